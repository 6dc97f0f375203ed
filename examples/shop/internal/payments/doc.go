// Package payments is the shop's payment-service, in the manner of a
// payment provider: a charge is answered 202 pending and its outcome,
// decided at once and stored with it, is published a moment later
// (Config.ConfirmAfter) as payment.confirmed or payment.declined, as a
// provider's webhook comes after the charge; the event goes through the
// service's transactional outbox as an event due then, so it is as durable
// as the charge. Charges and refunds are idempotent by key (the saga
// step's idempotency key), declines deterministic (a charge over the
// per-order limit), and faults can be injected (an error rate, added
// latency, down altogether, charges whose replies are lost, outcomes never
// published, refunds that fail) so that a user can watch breakers open,
// sagas wait and compensate, and a compensation fail until an operator
// retries it.
//
// Start at [New]; POST /charges, POST /refunds, GET /charges?order_id=,
// GET and PUT /admin/faults ([Faults]), for the admin role only
// (platform.Faults).
package payments
