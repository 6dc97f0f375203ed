// Package payments is the shop's payment-service: charges and refunds,
// idempotent by key (the saga step's idempotency key), with deterministic
// declines (a charge over the per-order limit is declined with 402) and
// fault injection (an error rate, added latency, or down altogether) so that
// a user can watch breakers open and sagas compensate.
//
// Start at [New]; POST /charges, POST /refunds, GET /charges?order_id=,
// GET and PUT /admin/faults, for the admin role only (platform.RequireRole).
package payments
