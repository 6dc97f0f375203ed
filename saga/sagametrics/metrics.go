package sagametrics

import (
	"context"
	"fmt"

	"github.com/go-microkit/microkit/saga"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is a [saga.Listener] that exports Prometheus metrics:
//
//	microkit_saga_started_total{saga}
//	microkit_saga_completed_total{saga}
//	microkit_saga_compensated_total{saga}
//	microkit_saga_compensation_failed_total{saga}
//	microkit_saga_step_duration_seconds{saga,step,phase="execute|compensate",outcome="ok|error"}
//	microkit_saga_parked_total{saga,step}
//	microkit_saga_woken_total{saga,step}
//
// parked counts the sagas that parked in a waiting step (saga.Wait), and
// woken the waits that ended well (their signal taken and accepted, or
// their timer fired); a wait that fails shows as a compensation. Summed
// over the processes that share a store, their difference is how many
// sagas wait.
//
// Pass it to [saga.WithListener]. It is safe for concurrent use.
type Metrics struct {
	started, completed, compensated, compensationFailed *prometheus.CounterVec
	parked, woken                                       *prometheus.CounterVec
	stepDuration                                        *prometheus.HistogramVec
}

// New creates the saga metrics and registers them on reg. It returns
// an error if reg refuses one (for instance, registered twice).
func New(reg prometheus.Registerer) (*Metrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "microkit", Subsystem: "saga", Name: name, Help: help,
		}, append([]string{"saga"}, labels...))
	}
	m := &Metrics{
		started:            counter("started_total", "Saga instances started."),
		completed:          counter("completed_total", "Saga instances that completed every step."),
		compensated:        counter("compensated_total", "Saga instances rolled back by compensation."),
		compensationFailed: counter("compensation_failed_total", "Saga instances whose compensation failed for good; each needs a human."),
		parked:             counter("parked_total", "Saga instances parked in a waiting step.", "step"),
		woken:              counter("woken_total", "Waits that ended well: their signal accepted, or their timer fired.", "step"),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "microkit", Subsystem: "saga", Name: "step_duration_seconds",
			Help:    "Duration of step executions and compensations, per attempt.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"saga", "step", "phase", "outcome"}),
	}
	for _, c := range []prometheus.Collector{m.started, m.completed, m.compensated, m.compensationFailed, m.parked, m.woken, m.stepDuration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("sagametrics: %w", err)
		}
	}
	return m, nil
}

// OnEvent implements [saga.Listener].
func (m *Metrics) OnEvent(_ context.Context, e saga.Event) {
	switch e.Kind {
	case saga.EventStarted:
		m.started.WithLabelValues(e.Saga).Inc()
	case saga.EventCompleted:
		m.completed.WithLabelValues(e.Saga).Inc()
	case saga.EventCompensated:
		m.compensated.WithLabelValues(e.Saga).Inc()
	case saga.EventCompensationFailed:
		m.compensationFailed.WithLabelValues(e.Saga).Inc()
	case saga.EventWaiting:
		m.parked.WithLabelValues(e.Saga, e.Step).Inc()
	case saga.EventWoken:
		m.woken.WithLabelValues(e.Saga, e.Step).Inc()
	case saga.EventStepSucceeded:
		m.stepDuration.WithLabelValues(e.Saga, e.Step, "execute", "ok").Observe(e.Duration.Seconds())
	case saga.EventStepFailed:
		m.stepDuration.WithLabelValues(e.Saga, e.Step, "execute", "error").Observe(e.Duration.Seconds())
	case saga.EventStepCompensated:
		m.stepDuration.WithLabelValues(e.Saga, e.Step, "compensate", "ok").Observe(e.Duration.Seconds())
	case saga.EventCompensationAttemptFailed:
		m.stepDuration.WithLabelValues(e.Saga, e.Step, "compensate", "error").Observe(e.Duration.Seconds())
	}
}
