// Package gatewaytrace carries the gateway's trace to upstreams without a
// client span per upstream call.
//
// The gateway is traced with tracing.Middleware, last in
// gateway.WithMiddleware, which starts a server span named after the route.
// To continue that trace in the upstream, the outgoing request must carry
// the span's context (traceparent). tracing.Transport does that and adds a
// client span per attempt; [Propagate] only injects the context, which costs
// a fraction (see the gateway section of docs/benchmarks.md): the upstream's
// server span then hangs directly under the gateway's.
package gatewaytrace
