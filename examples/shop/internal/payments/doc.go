// Package payments is the shop's payment-service: charges and refunds,
// idempotent by key (the saga step's idempotency key), with deterministic
// declines (a charge over the per-order limit is declined with 402) and
// fault injection (an error rate, added latency, down altogether, charges
// whose replies are lost, refunds that fail) so that a user can watch
// breakers open, sagas compensate, and a compensation fail until an
// operator retries it.
//
// Start at [New]; POST /charges, POST /refunds, GET /charges?order_id=,
// GET and PUT /admin/faults ([Faults]), for the admin role only
// (platform.Faults).
package payments
