// Package outboxmetrics exports Prometheus metrics for the relays of
// package eventbus/outbox: an [outbox.Listener] that counts relayed, failed
// and pruned events per outbox table and times the rounds that did work,
// and records the batch sizes and durations of inboxes with group commit
// (outbox.WithGroupCommit). It lives apart from package outbox so that the core compiles nothing of
// Prometheus.
//
//	m, err := outboxmetrics.New(reg)
//	relay, err := outbox.NewRelay(db, dialect, pub, outbox.WithListener(m))
//	inbox, err := outbox.NewInbox(db, dialect, outbox.WithGroupCommit(64), outbox.WithListener(m))
package outboxmetrics
