package eventbus

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics records Prometheus metrics of handlers and publishers:
//
//	microkit_eventbus_messages_handled_total{handler,outcome}   outcome: ack, deadletter, retry, error, permanent
//	microkit_eventbus_handler_duration_seconds{handler}
//	microkit_eventbus_messages_published_total{outcome}          outcome: ok, error
//
// It is safe for concurrent use.
type Metrics struct {
	handled   *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	published *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, fmt.Errorf("eventbus: new metrics: %w: nil registerer", ErrInvalidOption)
	}
	m := &Metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "microkit_eventbus_messages_handled_total",
			Help: "Messages handled, by handler and outcome (ack, deadletter, retry, error, permanent).",
		}, []string{"handler", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "microkit_eventbus_handler_duration_seconds",
			Help:    "Time spent in handlers, by handler.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"handler"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "microkit_eventbus_messages_published_total",
			Help: "Messages published, by outcome (ok, error).",
		}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{m.handled, m.duration, m.published} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("eventbus: new metrics: %w", err)
		}
	}
	return m, nil
}

// Middleware counts each handler call by the outcome of its Fate (see
// FateOf) and observes its duration. Put it outside DeadLetter, as the
// recommended chain does, to count parked messages as "deadletter";
// inside, it counts them as "permanent".
func (m *Metrics) Middleware() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			name := ""
			if info, ok := DeliveryFromContext(ctx); ok {
				name = info.Handler
			}
			start := time.Now()
			err := next(ctx, msg)
			m.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
			m.handled.WithLabelValues(name, FateOf(ctx, err).Outcome).Inc()
			return err
		}
	}
}

// Publisher counts the messages published through p by outcome.
func (m *Metrics) Publisher(p Publisher) Publisher {
	return DecoratePublisher(p, func(ctx context.Context, msgs ...*Message) error {
		err := p.Publish(ctx, msgs...)
		result := "ok"
		if err != nil {
			result = "error"
		}
		m.published.WithLabelValues(result).Add(float64(len(msgs)))
		return err
	})
}
