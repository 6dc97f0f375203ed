// Package gatewaysvc is the shop's API gateway, built on package gateway:
// the shop's routes (users and orders behind JWT auth and a per-user rate
// limit, products public, /api/admin/* for tokens with the admin role
// only), discovered upstreams with per-upstream breakers, and the
// order-details composition at GET /api/orders/{id}/details; the
// operator's console of every instance, aggregated, at /admin/ (admin.go),
// and its own probes, metrics and console on an internal port.
//
// Start at [New].
package gatewaysvc
