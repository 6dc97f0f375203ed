// Package sagametrics exports Prometheus metrics for sagas: a
// [saga.Listener] that counts started, completed, compensated and
// compensation-failed sagas and times every step attempt. It is a package
// of its own so that importing saga compiles nothing of Prometheus.
//
//	m, err := sagametrics.New(prometheus.DefaultRegisterer)
//	orchestrator, err := saga.NewOrchestrator(store, saga.WithListener(m))
package sagametrics
