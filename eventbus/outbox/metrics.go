package outbox

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics records Prometheus metrics of relays, labelled by outbox table:
//
//	microkit_outbox_events_relayed_total{table}          events published and marked sent
//	microkit_outbox_relay_failures_total{table}          rounds that failed (database or publish)
//	microkit_outbox_relay_round_duration_seconds{table}  rounds that published something, or failed
//	microkit_outbox_events_pruned_total{table}           sent events deleted
//
// Pass it to relays with WithMetrics. It is safe for concurrent use.
type Metrics struct {
	relayed  *prometheus.CounterVec
	failures *prometheus.CounterVec
	duration *prometheus.HistogramVec
	pruned   *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, fmt.Errorf("outbox: new metrics: %w", invalid("nil registerer"))
	}
	m := &Metrics{
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "microkit_outbox_events_relayed_total",
			Help: "Outbox events published and marked sent, by table.",
		}, []string{"table"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "microkit_outbox_relay_failures_total",
			Help: "Relay rounds that failed (database or publish), by table.",
		}, []string{"table"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "microkit_outbox_relay_round_duration_seconds",
			Help:    "Duration of relay rounds that published events or failed, by table.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"table"}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "microkit_outbox_events_pruned_total",
			Help: "Sent outbox events deleted by pruning, by table.",
		}, []string{"table"}),
	}
	for _, c := range []prometheus.Collector{m.relayed, m.failures, m.duration, m.pruned} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("outbox: new metrics: %w", err)
		}
	}
	return m, nil
}

// WithMetrics makes a relay record its rounds in m. Default, and with a nil
// m: none.
func WithMetrics(m *Metrics) Option {
	return func(c *config) error {
		c.metrics = m
		return nil
	}
}

// round records one relay round that started at start.
func (m *Metrics) round(table string, start time.Time, n int, err error) {
	if m == nil || (n == 0 && err == nil) {
		return // idle polls would drown the histogram
	}
	m.duration.WithLabelValues(table).Observe(time.Since(start).Seconds())
	if err != nil {
		m.failures.WithLabelValues(table).Inc()
	}
	if n > 0 {
		m.relayed.WithLabelValues(table).Add(float64(n))
	}
}

func (m *Metrics) prunedEvents(table string, n int64) {
	if m != nil && n > 0 {
		m.pruned.WithLabelValues(table).Add(float64(n))
	}
}
