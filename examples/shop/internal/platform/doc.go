// Package platform holds what every shop service shares: its database
// (SQLite file or PostgreSQL schema, one per service), its HTTP server with
// /healthz, /readyz and /metrics, its registration in the service registry,
// and the discovery-aware, traced HTTP client it calls other services with.
//
// Start at [Deps], what a service is given, and [Server], what it serves on.
package platform
