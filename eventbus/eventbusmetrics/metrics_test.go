package eventbusmetrics_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbusmetrics"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/internal/metricstest"
	"github.com/go-microkit/microkit/retry"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := eventbusmetrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eventbusmetrics.New(reg); err == nil {
		t.Fatal("registering twice succeeded")
	}
	if _, err := eventbusmetrics.New(nil); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Fatalf("nil registerer: %v", err)
	}
	bus := newBus(t)
	pub := m.Publisher(bus)
	done := make(chan struct{}, 1)
	var n int
	r := run(t, bus, func(context.Context, *eventbus.Message) error {
		n++ // concurrency 1: handlers run one at a time
		switch n {
		case 1:
			return errors.New("transient")
		case 2:
			return &eventbus.RetryError{Err: errors.New("later"), Delay: 0}
		case 3:
			return retry.Permanent(errors.New("poison"))
		}
		done <- struct{}{}
		return nil
	}, m.Middleware())
	for range 2 {
		msg, _ := eventbus.NewMessage("job.run", 1)
		if err := pub.Publish(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	// Close waits for the handler in flight, and so for its metrics.
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(t.Context(), &eventbus.Message{Type: "job.run"}); err == nil {
		t.Fatal("invalid message published")
	}
	if err := metricstest.CheckRegistry(reg); err != nil {
		t.Error(err)
	}
	got := metricstest.Series(t, reg)
	for series, want := range map[string]float64{
		"microkit_eventbus_messages_handled_total{handler=job.run,outcome=ack}":       1,
		"microkit_eventbus_messages_handled_total{handler=job.run,outcome=error}":     1,
		"microkit_eventbus_messages_handled_total{handler=job.run,outcome=permanent}": 1,
		"microkit_eventbus_messages_handled_total{handler=job.run,outcome=retry}":     1,
		"microkit_eventbus_messages_published_total{outcome=ok}":                      2,
		"microkit_eventbus_messages_published_total{outcome=error}":                   1,
		"microkit_eventbus_handler_duration_seconds{handler=job.run}":                 4,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v (all: %v)", series, got[series], want, got)
		}
	}
}

// TestMetricsOutcomeIsTheFate: the outcome label is the delivery's fate. A
// handler that asks for its own delay is counted "retry" while attempts
// are left, and "deadletter" when its last attempt is parked.
func TestMetricsOutcomeIsTheFate(t *testing.T) {
	// In a testing/synctest bubble, the redelivery the handler asks for
	// comes as soon as everything else waits.
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		m, err := eventbusmetrics.New(reg)
		if err != nil {
			t.Fatal(err)
		}
		bus := newBus(t)
		parked := make(chan struct{}, 1)
		r := run(t, bus, func(context.Context, *eventbus.Message) error {
			return &eventbus.RetryError{Err: errors.New("busy"), Delay: time.Millisecond}
		},
			m.Middleware(),
			eventbus.DeadLetter(eventbus.PublisherFunc(func(context.Context, ...*eventbus.Message) error {
				parked <- struct{}{}
				return nil
			}), eventbus.DeadLetterLogger(slog.New(slog.DiscardHandler))),
			eventbus.Retry(retry.Policy{MaxAttempts: 2}),
		)
		msg, _ := eventbus.NewMessage("job.run", 1)
		if err := bus.Publish(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
		<-parked
		if err := r.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		got := metricstest.Series(t, reg)
		for series, want := range map[string]float64{
			"microkit_eventbus_messages_handled_total{handler=job.run,outcome=retry}":      1,
			"microkit_eventbus_messages_handled_total{handler=job.run,outcome=deadletter}": 1,
		} {
			if got[series] != want {
				t.Errorf("%s = %v, want %v (all: %v)", series, got[series], want, got)
			}
		}
	})
}

// newBus returns a memory bus closed when the test ends.
func newBus(t *testing.T, opts ...memory.Option) *memory.Bus {
	t.Helper()
	b, err := memory.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// run starts a router of group "g" on bus that runs h for "job.run"
// behind mw.
func run(t *testing.T, bus *memory.Bus, h eventbus.Handler, mw ...eventbus.Middleware) *eventbus.Router {
	t.Helper()
	r, err := eventbus.NewRouter(bus, "g", eventbus.WithLogger(slog.New(slog.DiscardHandler)), eventbus.WithMiddleware(mw...))
	if err == nil {
		err = r.Handle("job.run", h)
	}
	if err == nil {
		err = r.Start(t.Context())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}
