// Package natstest runs an embedded NATS server with JetStream for tests:
// in-process, on a random port, with its store in a test's temporary
// directory. Restart stops it and starts a new one on the same port and
// store, as a broker restart in production would.
//
// Start with Run.
package natstest
