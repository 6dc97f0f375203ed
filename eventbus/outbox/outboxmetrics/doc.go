// Package outboxmetrics exports Prometheus metrics for the relays of
// package eventbus/outbox: an [outbox.Listener] that counts relayed, failed
// and pruned events per outbox table and times the rounds that did work. It
// lives apart from package outbox so that the core compiles nothing of
// Prometheus.
//
//	m, err := outboxmetrics.New(reg)
//	relay, err := outbox.NewRelay(db, dialect, pub, outbox.WithListener(m))
package outboxmetrics
