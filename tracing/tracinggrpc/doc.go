// Package tracinggrpc traces gRPC clients and servers with otelgrpc's stats
// handlers (otelgrpc's interceptors are deprecated), bound to the providers
// of a [tracing.Tracer].
//
// Start with [ServerOption] and [DialOption]: a server built with the first
// and a client connection dialled with the second put every call in one
// trace, the server span a child of the client span, and record otelgrpc's
// RPC metrics. It is a subpackage so that importing tracing does not compile
// gRPC.
package tracinggrpc
