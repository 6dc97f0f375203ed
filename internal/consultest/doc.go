// Package consultest gives fault tests a throwaway Consul agent of their
// own: a dev agent on free loopback ports that a test may kill and start
// again, which it must never do to the shared agent at CONSUL_HTTP_ADDR.
//
// Start with [StartAgent]. A dev agent keeps nothing on disk, so an agent
// started again after [Agent.Kill] is empty, as a registry that lost its
// state after a crash.
package consultest
