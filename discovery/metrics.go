package discovery

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the resolver's Prometheus metrics, all labelled by service:
//
//	microkit_discovery_healthy_instances       instances in the last set
//	microkit_discovery_stale_services          1 while serving the last known set: the registry is unreachable, or its answer is held back as suspect (see PanicPolicy)
//	microkit_discovery_watch_errors_total      failed watch calls
//	microkit_discovery_ejections_total         outlier ejections
//	microkit_discovery_ejections_skipped_total ejections refused by MaxEjectedPercent
//	microkit_discovery_retries_total           requests the Transport retried on another instance
//
// The series of a service the resolver evicts as idle are deleted (see
// [WithIdleTimeout]). A nil *Metrics records nothing. Metrics is safe for concurrent use.
type Metrics struct {
	instances   *prometheus.GaugeVec
	stale       *prometheus.GaugeVec
	watchErrors *prometheus.CounterVec
	ejections   *prometheus.CounterVec
	skipped     *prometheus.CounterVec
	retries     *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg, which the caller
// owns (nothing is registered on the global default registry).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, fmt.Errorf("discovery: new metrics: %w: nil registerer", ErrInvalidOption)
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
			return nil, fmt.Errorf("discovery: new metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) updated(service string, n int) {
	if m == nil {
		return
	}
	m.instances.WithLabelValues(service).Set(float64(n))
	m.stale.WithLabelValues(service).Set(0)
}

// held records a suspect answer held back: n instances served from the
// last known set, marked stale.
func (m *Metrics) held(service string, n int) {
	if m == nil {
		return
	}
	m.instances.WithLabelValues(service).Set(float64(n))
	m.stale.WithLabelValues(service).Set(1)
}

func (m *Metrics) watchError(service string, stale bool) {
	if m == nil {
		return
	}
	m.watchErrors.WithLabelValues(service).Inc()
	if stale {
		m.stale.WithLabelValues(service).Set(1)
	}
}

func (m *Metrics) ejected(service string) {
	if m != nil {
		m.ejections.WithLabelValues(service).Inc()
	}
}

func (m *Metrics) ejectionSkipped(service string) {
	if m != nil {
		m.skipped.WithLabelValues(service).Inc()
	}
}

func (m *Metrics) retried(service string) {
	if m != nil {
		m.retries.WithLabelValues(service).Inc()
	}
}

// forget deletes every series of service, which the resolver no longer
// follows.
func (m *Metrics) forget(service string) {
	if m == nil {
		return
	}
	m.instances.DeleteLabelValues(service)
	m.stale.DeleteLabelValues(service)
	m.watchErrors.DeleteLabelValues(service)
	m.ejections.DeleteLabelValues(service)
	m.skipped.DeleteLabelValues(service)
	m.retries.DeleteLabelValues(service)
}
