package eventbusmetrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-microkit/microkit/eventbus"
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

// New creates the metrics and registers them on reg, which the caller owns
// (nothing is registered on the global default registry). A nil reg is an
// error wrapping eventbus.ErrInvalidOption; registering twice on one
// registry fails with the registry's error.
func New(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, fmt.Errorf("eventbusmetrics: new: %w: nil registerer", eventbus.ErrInvalidOption)
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
			return nil, fmt.Errorf("eventbusmetrics: new: %w", err)
		}
	}
	return m, nil
}

// Middleware counts each handler call by the outcome of its fate (see
// eventbus.FateOf) and observes its duration. Put it outside
// eventbus.DeadLetter, as the recommended chain does, to count parked
// messages as "deadletter"; inside, it counts them as "permanent".
func (m *Metrics) Middleware() eventbus.Middleware {
	return func(next eventbus.Handler) eventbus.Handler {
		return func(ctx context.Context, msg *eventbus.Message) error {
			name := ""
			if info, ok := eventbus.DeliveryFromContext(ctx); ok {
				name = info.Handler
			}
			start := time.Now()
			err := next(ctx, msg)
			m.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
			m.handled.WithLabelValues(name, eventbus.FateOf(ctx, err).Outcome).Inc()
			return err
		}
	}
}

// Publisher counts the messages published through p by outcome.
func (m *Metrics) Publisher(p eventbus.Publisher) eventbus.Publisher {
	return eventbus.DecoratePublisher(p, func(ctx context.Context, msgs ...*eventbus.Message) error {
		err := p.Publish(ctx, msgs...)
		result := "ok"
		if err != nil {
			result = "error"
		}
		m.published.WithLabelValues(result).Add(float64(len(msgs)))
		return err
	})
}
