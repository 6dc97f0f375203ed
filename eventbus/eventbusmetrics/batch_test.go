package eventbusmetrics_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbusmetrics"
	"github.com/go-microkit/microkit/internal/metricstest"
	"github.com/go-microkit/microkit/retry"
)

// TestMetricsCountBatchMessages: under a batch handler the middleware
// counts each message by its own fate, and observes one duration per
// message (the batch's).
func TestMetricsCountBatchMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		m, err := eventbusmetrics.New(reg)
		if err != nil {
			t.Fatal(err)
		}
		bus := newBus(t)
		parked := make(chan struct{}, 1)
		r, err := eventbus.NewRouter(bus, "g", eventbus.WithLogger(slog.New(slog.DiscardHandler)), eventbus.WithMiddleware(
			m.Middleware(),
			eventbus.DeadLetter(eventbus.PublisherFunc(func(context.Context, ...*eventbus.Message) error {
				parked <- struct{}{}
				return nil
			}), eventbus.DeadLetterLogger(slog.New(slog.DiscardHandler))),
		))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.HandleBatch("job.run", func(ctx context.Context, msgs []*eventbus.Message) error {
			failed := &eventbus.BatchError{}
			failed.Fail(1, retry.Permanent(errors.New("bad row")))
			return failed.Err()
		}, eventbus.HandlerBatchSize(3)); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		var msgs []*eventbus.Message
		for i := range 3 {
			msg, _ := eventbus.NewMessage("job.run", i)
			msgs = append(msgs, msg)
		}
		if err := bus.Publish(t.Context(), msgs...); err != nil {
			t.Fatal(err)
		}
		<-parked
		if err := r.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		got := metricstest.Series(t, reg)
		for series, want := range map[string]float64{
			"microkit_eventbus_messages_handled_total{handler=job.run,outcome=ack}":        2,
			"microkit_eventbus_messages_handled_total{handler=job.run,outcome=deadletter}": 1,
			"microkit_eventbus_handler_duration_seconds{handler=job.run}":                  3,
		} {
			if got[series] != want {
				t.Errorf("%s = %v, want %v (all: %v)", series, got[series], want, got)
			}
		}
	})
}
