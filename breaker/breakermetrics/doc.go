// Package breakermetrics observes breakers from package breaker: it counts
// their calls and state changes in Prometheus and adds an OpenTelemetry
// span event to the trace of the call that caused each state change.
//
// Start with [New], given the prometheus.Registerer to register on, and
// pass its [Metrics.Observer] method to breaker.WithObserver:
//
//	m, err := breakermetrics.New(prometheus.DefaultRegisterer)
//	b, err := breaker.New("payments", breaker.WithObserver(m.Observer))
//
// Metrics, labelled by breaker name:
//
//   - microkit_breaker_calls_total{breaker,outcome}: calls by outcome
//     (success, failure, ignored, rejected);
//   - microkit_breaker_slow_calls_total{breaker}: calls slower than the
//     slow-call threshold;
//   - microkit_breaker_circuit_state{breaker,state}: 1 for the current state, 0
//     for the others;
//   - microkit_breaker_transitions_total{breaker,from,to}: state changes.
package breakermetrics
