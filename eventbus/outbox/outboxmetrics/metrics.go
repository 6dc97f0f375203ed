package outboxmetrics

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-microkit/microkit/eventbus/outbox"
)

// Metrics is an [outbox.Listener] that exports the metrics of relays, all
// labelled by outbox table, and of inboxes with group commit, labelled by
// inbox table:
//
//	microkit_outbox_events_relayed_total          events published and marked sent
//	microkit_outbox_relay_failures_total          rounds that failed (database or publish)
//	microkit_outbox_relay_round_duration_seconds  rounds that published something, or failed
//	microkit_outbox_events_pruned_total           sent events deleted
//	microkit_outbox_inbox_batch_size              deliveries per group-commit batch
//	microkit_outbox_inbox_batch_duration_seconds  group-commit batches, committed or failed
//	microkit_outbox_inbox_batch_fallbacks_total   batches rolled back and processed again one delivery at a time
//
// Rounds that found nothing to publish are not observed: a relay polls
// every second when idle, and those rounds would drown the histogram. Pass
// it to outbox.WithListener; one Metrics may serve the relays of several
// tables. It is safe for concurrent use.
type Metrics struct {
	relayed  *prometheus.CounterVec
	failures *prometheus.CounterVec
	duration *prometheus.HistogramVec
	pruned   *prometheus.CounterVec
	// Inboxes with outbox.WithGroupCommit.
	batchSize     *prometheus.HistogramVec
	batchDuration *prometheus.HistogramVec
	// A batch falls back when a delivery of it fails: a high rate means
	// handlers that fail often, for which group commit doubles the work.
	batchFallbacks *prometheus.CounterVec
}

// New creates the metrics and registers them on reg, which the caller owns
// (nothing is registered on the global default registry). A nil reg is an
// error wrapping outbox.ErrInvalidOption; registering twice on one
// registry fails with the registry's error.
func New(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, fmt.Errorf("outboxmetrics: new: %w: nil registerer", outbox.ErrInvalidOption)
	}
	label := []string{"table"}
	m := &Metrics{
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "microkit_outbox_events_relayed_total",
			Help: "Outbox events published and marked sent, by table.",
		}, label),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "microkit_outbox_relay_failures_total",
			Help: "Relay rounds that failed (database or publish), by table.",
		}, label),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "microkit_outbox_relay_round_duration_seconds",
			Help:    "Duration of relay rounds that published events or failed, by table.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, label),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "microkit_outbox_events_pruned_total",
			Help: "Sent outbox events deleted by pruning, by table.",
		}, label),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "microkit_outbox_inbox_batch_size",
			Help:    "Deliveries per inbox group-commit batch, by inbox table.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}, label),
		batchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "microkit_outbox_inbox_batch_duration_seconds",
			Help:    "Duration of inbox group-commit batches, committed or failed, by inbox table.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, label),
		batchFallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "microkit_outbox_inbox_batch_fallbacks_total",
			Help: "Inbox group-commit batches rolled back by a failure and processed again one delivery at a time, by inbox table.",
		}, label),
	}
	for _, c := range []prometheus.Collector{m.relayed, m.failures, m.duration, m.pruned, m.batchSize, m.batchDuration, m.batchFallbacks} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("outboxmetrics: new: %w", err)
		}
	}
	return m, nil
}

// OnEvent implements [outbox.Listener].
func (m *Metrics) OnEvent(_ context.Context, e outbox.Event) {
	switch e.Kind {
	case outbox.EventRelayed:
		m.duration.WithLabelValues(e.Table).Observe(e.Duration.Seconds())
		m.relayed.WithLabelValues(e.Table).Add(float64(e.Events))
	case outbox.EventRelayFailed:
		m.duration.WithLabelValues(e.Table).Observe(e.Duration.Seconds())
		m.failures.WithLabelValues(e.Table).Inc()
	case outbox.EventPruned:
		m.pruned.WithLabelValues(e.Table).Add(float64(e.Events))
	case outbox.EventInboxBatch:
		m.batchSize.WithLabelValues(e.Table).Observe(float64(e.Events))
		m.batchDuration.WithLabelValues(e.Table).Observe(e.Duration.Seconds())
		if e.FellBack {
			m.batchFallbacks.WithLabelValues(e.Table).Inc()
		}
	}
}
