// Package platform holds what every shop service shares: its database
// (SQLite file or PostgreSQL schema, one per service), its HTTP server with
// /healthz, /readyz, /metrics and the operator's console (console.go), its
// registration in the service registry, and the discovery-aware, traced
// HTTP client it calls other services with.
//
// Every service reads request bodies with [ReadJSON] (strict, 1 MiB) and
// answers errors with [WriteError] or [WriteInternal], in the gateway's
// error shape (gateway.ErrorBody) with the forwarded request id. The
// caller's identity is [Subject] and [Role], set by the gateway from a
// verified token only. A service that injects faults for demos and tests
// keeps them in [Faults], which serves them at FaultPath to the admin
// role.
//
// Start at [Deps], what a service is given, and [Server], what it serves on.
package platform
