package discoverymetrics

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-microkit/microkit/discovery"
)

// Metrics is a [discovery.Listener] that exports the resolver's metrics,
// all labelled by service:
//
//	microkit_discovery_healthy_instances       instances in the last set
//	microkit_discovery_stale_services          1 while serving the last known set: the registry is unreachable, or its answer is held back as suspect (see discovery.PanicPolicy)
//	microkit_discovery_watch_errors_total      failed watch calls
//	microkit_discovery_ejections_total         outlier ejections
//	microkit_discovery_ejections_skipped_total ejections refused by MaxEjectedPercent
//	microkit_discovery_retries_total           requests the Transport retried on another instance
//
// The series of a service the resolver evicts as idle are deleted (see
// discovery.WithIdleTimeout). Pass it to discovery.WithListener; one
// Metrics may serve several resolvers of distinct services. It is safe for
// concurrent use.
type Metrics struct {
	instances   *prometheus.GaugeVec
	stale       *prometheus.GaugeVec
	watchErrors *prometheus.CounterVec
	ejections   *prometheus.CounterVec
	skipped     *prometheus.CounterVec
	retries     *prometheus.CounterVec
}

// New creates the metrics and registers them on reg, which the caller
// owns (nothing is registered on the global default registry). A nil reg
// is an error wrapping discovery.ErrInvalidOption; registering twice on
// one registry fails with the registry's error.
func New(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, fmt.Errorf("discoverymetrics: new: %w: nil registerer", discovery.ErrInvalidOption)
	}
	label := []string{"service"}
	m := &Metrics{
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "microkit_discovery_healthy_instances",
			Help: "Healthy instances in the last set the registry gave, per service.",
		}, label),
		stale: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "microkit_discovery_stale_services",
			Help: "1 while the resolver serves the last known set: the registry is unreachable or its answer is held back as suspect.",
		}, label),
		watchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "microkit_discovery_watch_errors_total",
			Help: "Failed watch calls to the registry.",
		}, label),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "microkit_discovery_ejections_total",
			Help: "Instances ejected as outliers after consecutive failures.",
		}, label),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "microkit_discovery_ejections_skipped_total",
			Help: "Ejections refused because MaxEjectedPercent of the set was already ejected.",
		}, label),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "microkit_discovery_retries_total",
			Help: "Requests the HTTP transport retried on another instance.",
		}, label),
	}
	for _, c := range []prometheus.Collector{m.instances, m.stale, m.watchErrors, m.ejections, m.skipped, m.retries} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("discoverymetrics: new: %w", err)
		}
	}
	return m, nil
}

// OnEvent implements [discovery.Listener].
func (m *Metrics) OnEvent(_ context.Context, e discovery.Event) {
	switch e.Kind {
	case discovery.EventUpdated, discovery.EventHeld:
		m.instances.WithLabelValues(e.Service).Set(float64(e.Instances))
		m.stale.WithLabelValues(e.Service).Set(boolValue(e.Stale))
	case discovery.EventWatchFailed:
		m.watchErrors.WithLabelValues(e.Service).Inc()
		if e.Stale {
			m.stale.WithLabelValues(e.Service).Set(1)
		}
	case discovery.EventEjected:
		m.ejections.WithLabelValues(e.Service).Inc()
	case discovery.EventEjectionSkipped:
		m.skipped.WithLabelValues(e.Service).Inc()
	case discovery.EventRetried:
		m.retries.WithLabelValues(e.Service).Inc()
	case discovery.EventEvicted:
		// The resolver no longer follows the service: its series go, so
		// that names resolved once cannot grow the series without bound.
		for _, v := range []*prometheus.MetricVec{m.instances.MetricVec, m.stale.MetricVec, m.watchErrors.MetricVec,
			m.ejections.MetricVec, m.skipped.MetricVec, m.retries.MetricVec} {
			v.DeleteLabelValues(e.Service)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
