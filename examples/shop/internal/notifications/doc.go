// Package notifications is the shop's notification-service: a consumer
// group on order.created, order.confirmed and order.cancelled that stores one
// notification per order and event kind, idempotently: the inbox of package
// eventbus/outbox marks each message processed in the transaction that
// stores its notification, and a unique (order, kind) keeps out the same
// event under another ID. It serves them at GET /notifications?customer= or ?order_id=.
//
// An event whose handler fails for good (20 attempts, or a permanent error
// such as an undecodable payload or the injected [Faults].Reject) is
// parked by eventbus.DeadLetter as "deadletter.<type>"; a consumer group of
// its own collects those into a dlq.Store in the service's database, which
// the service's console (/console/deadletters) lists and replays. A replay
// is handled like the first delivery: the inbox's mark of a failed
// delivery rolled back with it.
//
// Start at [New].
package notifications
