// Package discovery finds the instances of a service and spreads requests
// over them: the service registry, client-side load balancing and passive
// health checking patterns.
//
// A first implementation registers an instance with an HTTP check and asks
// Consul for the passing instances on every request, so every request waits
// for a registry round trip and fails while the registry is down. Here a
// request never waits for the registry:
//
//   - [Instancer] is the read port (Instances, healthy only, and Watch, a
//     stream of complete sets) and [Registrar] the write port (Register,
//     Deregister); a [Registry] is both, and one that can name the
//     services it holds is a [ServiceLister]. [Memory] is the in-process
//     registry with TTL heartbeats, [Static] a fixed list and an Instancer
//     only (see [ParseStatic] and [StaticFromEnv]), and package
//     discovery/consul the Consul adapter over blocking queries. Package
//     discovery/discoverytest is the conformance suite every registry
//     passes.
//   - [Announce] registers an instance, keeps it registered (heartbeats
//     its TTL check, or rechecks the registration, and registers again
//     after a registry restart) and deregisters it on Close; [Health]
//     serves /healthz and /readyz, concurrent probes sharing one run of
//     each check.
//   - [Resolver] is the client side: one Watch per service feeds an
//     immutable snapshot that [Resolver.Pick] reads without locks or
//     allocations. It keeps serving the last known set while the registry
//     is down, holds back a sudden empty or near-empty answer for a grace
//     period ([PanicPolicy]), and evicts a service not picked for [WithIdleTimeout]
//     (5 minutes by default), so names from redirects or user input do
//     not pile up goroutines and registry queries. A [Balancer] picks:
//     [RoundRobin], [Random], [Weighted] or [LeastRequest] (power of two
//     choices on requests in flight, the default). [WithOutlierEjection]
//     ejects an instance after consecutive failures for a growing time,
//     Envoy style, capped at a share of the set. [WithListener] reports
//     what the resolver does ([Event]); package discovery/discoverymetrics
//     turns that into Prometheus metrics. [WatchLoop] is the loop that
//     follows a Watch with backoff, for clients of your own.
//   - [Transport] is an http.RoundTripper for URLs like
//     http://product-service/products/1: it resolves, balances, reports
//     outcomes for ejection and retries idempotent requests on another
//     instance within a retry.Budget. Package discovery/grpcresolver does
//     the same for grpc.NewClient("microkit:///product-service").
//
// Start with [NewResolver] and [NewTransport] on the client side and
// [Announce] on the server side; the examples show both with the memory
// registry. docs/discovery.md maps a hand-written Consul client to this
// package.
package discovery
