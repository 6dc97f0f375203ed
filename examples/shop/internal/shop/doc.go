// Package shop wires the shop's services together: all of them in one
// process on embedded defaults (an in-process NATS JetStream server, one
// SQLite file per service, the in-memory registry), or any subset of them
// against outside servers (NATS, Consul, PostgreSQL), which is how
// `-service order` runs one service per process.
//
// Start at [Start].
package shop
