// Package notifications is the shop's notification-service: a consumer
// group on order.created, order.confirmed and order.cancelled that stores one
// notification per order and event kind, idempotently: the inbox of package
// eventbus/outbox marks each message processed in the transaction that
// stores its notification, and a unique (order, kind) keeps out the same
// event under another ID. It serves them at GET /notifications?customer= or ?order_id=.
//
// Start at [New].
package notifications
