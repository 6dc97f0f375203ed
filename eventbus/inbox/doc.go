// Package inbox makes event handlers idempotent with an in-memory record
// of processed message IDs: [Dedupe] is an eventbus middleware that runs a
// handler at most once per consumer group, handler and Message.ID within
// a TTL, so that the broker's at-least-once redeliveries and an outbox relay's
// re-publishes have no second effect.
//
// It implements the Idempotent Consumer pattern for handlers whose effects
// live outside a database transaction (a cache, a call to a service that
// is idempotent itself, a single-instance worker). When the handler writes
// to a SQL database, prefer outbox.Inbox from package eventbus/outbox: it
// writes the processed mark in the handler's own transaction, which this
// package cannot do, and it is shared by every instance of the group.
//
// Where to start: [NewMemory] and [Dedupe]:
//
//	store := inbox.NewMemory(time.Hour)
//	router, _ := eventbus.NewRouter(sub, "billing",
//		eventbus.WithMiddleware(inbox.Dedupe(store)))
//
// [Store] is the port for other stores (Redis with SET NX and a TTL, say).
package inbox
