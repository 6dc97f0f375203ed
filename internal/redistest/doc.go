// Package redistest runs a throwaway redis-server for tests that stop and
// restart it: a process of its own on a free loopback port, with its
// append-only file in the test's temporary directory, so that a restart
// keeps what it stored, as a production server with persistence does.
// Tests that need no restart use the shared server at MICROKIT_REDIS_ADDR
// instead.
//
// Start with Start.
package redistest
