package breakermetrics

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/go-microkit/microkit/breaker"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// ErrInvalidOption is wrapped by the error New returns for an invalid
// option.
var ErrInvalidOption = errors.New("breakermetrics: invalid option")

// SpanEventName is the name of the span event added on a state change.
const SpanEventName = "breaker.state_change"

// Metrics holds the Prometheus collectors for any number of breakers. It is
// safe for concurrent use.
type Metrics struct {
	calls       *prometheus.CounterVec
	slow        *prometheus.CounterVec
	state       *prometheus.GaugeVec
	transitions *prometheus.CounterVec
	spanEvents  bool
}

// Option configures Metrics.
type Option func(*Metrics) error

// WithoutSpanEvents turns off the OpenTelemetry span event on state
// changes, for services that trace elsewhere.
func WithoutSpanEvents() Option {
	return func(m *Metrics) error {
		m.spanEvents = false
		return nil
	}
}

// WithConstLabels adds constant labels (service, instance, ...) to every
// metric. Label names already used by the metrics are invalid.
func WithConstLabels(labels prometheus.Labels) Option {
	return func(m *Metrics) error {
		for name := range labels {
			switch name {
			case "breaker", "outcome", "state", "from", "to":
				return fmt.Errorf("%w: const label %q is taken", ErrInvalidOption, name)
			}
		}
		m.calls, m.slow, m.state, m.transitions = newCollectors(labels)
		return nil
	}
}

func newCollectors(labels prometheus.Labels) (*prometheus.CounterVec, *prometheus.CounterVec, *prometheus.GaugeVec, *prometheus.CounterVec) {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "microkit_breaker_calls_total",
			Help:        "Calls through the circuit breaker, by outcome: success, failure, ignored or rejected.",
			ConstLabels: labels,
		}, []string{"breaker", "outcome"}),
		prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "microkit_breaker_slow_calls_total",
			Help:        "Calls through the circuit breaker slower than its slow-call threshold.",
			ConstLabels: labels,
		}, []string{"breaker"}),
		prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name:        "microkit_breaker_circuit_state",
			Help:        "1 for the circuit breaker's current state, 0 for the others.",
			ConstLabels: labels,
		}, []string{"breaker", "state"}),
		prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "microkit_breaker_transitions_total",
			Help:        "Circuit breaker state changes.",
			ConstLabels: labels,
		}, []string{"breaker", "from", "to"})
}

// New makes the collectors and registers them on reg; nothing is
// registered anywhere else.
func New(reg prometheus.Registerer, opts ...Option) (*Metrics, error) {
	if reg == nil {
		return nil, fmt.Errorf("breakermetrics: new: %w: nil registerer", ErrInvalidOption)
	}
	m := &Metrics{spanEvents: true}
	m.calls, m.slow, m.state, m.transitions = newCollectors(nil)
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(m); err != nil {
			return nil, fmt.Errorf("breakermetrics: new: %w", err)
		}
	}
	for _, c := range []prometheus.Collector{m.calls, m.slow, m.state, m.transitions} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("breakermetrics: new: register: %w", err)
		}
	}
	return m, nil
}

// states are the states a breaker reports in the state gauge.
var states = []breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen, breaker.ForcedOpen, breaker.Disabled}

// Observer returns the observer for the breaker named name; pass the
// method value m.Observer to breaker.WithObserver. The label values are
// resolved here, once, so that counting a call is one atomic add.
//
// The observer is a breaker.EvictionObserver: when a breaker.Set evicts
// the breaker, its series are deleted.
func (m *Metrics) Observer(name string) breaker.Observer {
	o := &observer{m: m, name: name, slow: m.slow.WithLabelValues(name)}
	for _, out := range []breaker.Outcome{breaker.Success, breaker.Failure, breaker.Ignored, breaker.Rejected} {
		o.calls[out] = m.calls.WithLabelValues(name, out.String())
	}
	for _, s := range states {
		v := 0.0
		if s == breaker.Closed {
			v = 1
		}
		m.state.WithLabelValues(name, s.String()).Set(v)
	}
	return o
}

type observer struct {
	m     *Metrics
	name  string
	calls [breaker.Rejected + 1]prometheus.Counter
	slow  prometheus.Counter

	// mu orders Evicted against Transition: a breaker the set has evicted
	// can still be in use by whoever got it before, and its state changes
	// must not bring its series back (or, once the key is made again,
	// overwrite the new breaker's state).
	mu      sync.Mutex
	evicted bool
}

// Evicted drops the breaker's series when a breaker.Set evicts it, so
// that a set's bounded keys mean bounded series. Calls counted on the
// evicted breaker afterwards go to counters no longer registered, and its
// state changes update no series.
func (o *observer) Evicted() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.evicted = true
	for out := range o.calls {
		o.m.calls.DeleteLabelValues(o.name, breaker.Outcome(out).String())
	}
	o.m.slow.DeleteLabelValues(o.name)
	for _, s := range states {
		o.m.state.DeleteLabelValues(o.name, s.String())
	}
	o.m.transitions.DeletePartialMatch(prometheus.Labels{"breaker": o.name})
}

// Call counts one call.
func (o *observer) Call(out breaker.Outcome, slow bool) {
	if int(out) < len(o.calls) {
		o.calls[out].Inc()
	}
	if slow {
		o.slow.Inc()
	}
}

// Transition updates the state gauge and transition counter, and adds a
// span event to the span in ctx, if it is recording.
func (o *observer) Transition(ctx context.Context, t breaker.Transition) {
	o.mu.Lock()
	if !o.evicted {
		o.m.state.WithLabelValues(o.name, t.From.String()).Set(0)
		o.m.state.WithLabelValues(o.name, t.To.String()).Set(1)
		o.m.transitions.WithLabelValues(o.name, t.From.String(), t.To.String()).Inc()
	}
	o.mu.Unlock()
	if !o.m.spanEvents {
		return
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{
		attribute.String("breaker.name", t.Name),
		attribute.String("breaker.from", t.From.String()),
		attribute.String("breaker.to", t.To.String()),
		attribute.String("breaker.reason", string(t.Reason)),
	}
	if !t.OpenUntil.IsZero() {
		attrs = append(attrs, attribute.String("breaker.open_until", t.OpenUntil.UTC().Format("2006-01-02T15:04:05.000Z07:00")))
	}
	span.AddEvent(SpanEventName, trace.WithTimestamp(t.At), trace.WithAttributes(attrs...))
}
