package eventbus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/prometheus/client_golang/prometheus"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := eventbus.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eventbus.NewMetrics(reg); err == nil {
		t.Fatal("registering twice succeeded")
	}
	if _, err := eventbus.NewMetrics(nil); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Fatalf("nil registerer: %v", err)
	}
	bus := newBus(t)
	pub := m.Publisher(bus)
	done := make(sink, 8)
	var n int
	r := startRouter(t, bus, "g", "job.run", func(ctx context.Context, msg *eventbus.Message) error {
		n++ // concurrency 1: handlers run one at a time
		switch n {
		case 1:
			return errors.New("transient")
		case 2:
			return &eventbus.RetryError{Err: errors.New("later"), Delay: 0}
		case 3:
			return eventbus.Permanent(errors.New("poison"))
		}
		return done.handler(ctx, msg)
	}, eventbus.WithMiddleware(m.Middleware()))
	for range 2 {
		msg, _ := eventbus.NewMessage("job.run", 1)
		if err := pub.Publish(ctxT(t), msg); err != nil {
			t.Fatal(err)
		}
	}
	done.next(t)
	// Close waits for the handler in flight, and so for its metrics.
	if err := r.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctxT(t), &eventbus.Message{Type: "job.run"}); err == nil {
		t.Fatal("invalid message published")
	}
	got := counters(t, reg)
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

// counters flattens the registry: counter values, and histogram counts.
func counters(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			if c := m.GetCounter(); c != nil {
				out[key] = c.GetValue()
			}
			if h := m.GetHistogram(); h != nil {
				out[key] = float64(h.GetSampleCount())
			}
		}
	}
	return out
}

// TestMetricsOutcomeIsTheFate: the outcome label is the delivery's fate. A
// handler that asks for its own delay is counted "retry" while attempts
// are left, and "deadletter" when its last attempt is parked.
func TestMetricsOutcomeIsTheFate(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := eventbus.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTimers()
	bus := newBus(t, memory.WithAfterFunc(ts.afterFunc))
	parked := make(chan struct{}, 1)
	r := startRouter(t, bus, "g", "job.run", func(context.Context, *eventbus.Message) error {
		return &eventbus.RetryError{Err: errors.New("busy"), Delay: time.Millisecond}
	}, eventbus.WithMiddleware(
		m.Middleware(),
		eventbus.DeadLetter(eventbus.PublisherFunc(func(context.Context, ...*eventbus.Message) error {
			parked <- struct{}{}
			return nil
		}), eventbus.DeadLetterLogger(quiet())),
		eventbus.Retry(eventbus.RetryPolicy{MaxAttempts: 2}),
	))
	publish(t, bus, "job.run", 1)
	ts.next(t).f()
	<-parked
	if err := r.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	got := counters(t, reg)
	for series, want := range map[string]float64{
		"microkit_eventbus_messages_handled_total{handler=job.run,outcome=retry}":      1,
		"microkit_eventbus_messages_handled_total{handler=job.run,outcome=deadletter}": 1,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v (all: %v)", series, got[series], want, got)
		}
	}
}
