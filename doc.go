// Package microkit is a toolkit of microservice building blocks: one
// importable package per pattern, each usable on its own, each written to
// keep its promise when production misbehaves (a broker restart, a lost
// reply, a slow instance, a crash mid-transaction). This package holds no
// code; it says where to start. Import only the packages you need: a core
// package compiles nothing of NATS, RabbitMQ, Consul or a database driver,
// which live in adapter subpackages.
//
// # Packages
//
// Calls between services:
//
//   - breaker: circuit breaker for any call (consecutive failures, failure
//     and slow-call rates, half-open probes); HTTP transport and keyed sets.
//     breaker/breakergrpc for gRPC clients, breaker/breakermetrics for
//     Prometheus.
//   - discovery: service registry port, self-registration and health
//     handlers, a watch-backed resolver, load balancers, outlier ejection, an
//     HTTP transport. discovery/consul is the Consul registry,
//     discovery/grpcresolver the gRPC resolver.
//   - gateway: an API gateway and API composition built from net/http
//     middleware. gateway/jwtauth, gateway/ratelimit (and its Redis-backed
//     redislimit), gateway/discoverytarget, gateway/routefile,
//     gateway/gatewaymetrics and gateway/gatewaytrace add to it.
//
// Events between services:
//
//   - eventbus: message envelope, Publisher and Subscriber ports, a Router
//     with consumer groups, retries and dead letters. Adapters:
//     eventbus/memory (in process), eventbus/natsbus (NATS JetStream),
//     eventbus/rabbitbus (RabbitMQ); eventbus/eventbustrace traces them.
//   - eventbus/outbox: transactional outbox (events committed with the
//     business change, then relayed) and an SQL inbox for idempotent
//     consumers. eventbus/inbox is an in-memory dedupe middleware;
//     eventbus/dlq and the command cmd/microkit-dlq list and replay dead
//     letters.
//
// Consistency across services:
//
//   - saga: durable orchestrated sagas with compensations, retries, parallel
//     groups and crash recovery. saga/sqlstore stores them in PostgreSQL or
//     SQLite; saga/sagametrics exports metrics.
//
// Observability:
//
//   - tracing: one trace across HTTP, gRPC and the message bus, a span
//     around any function, trace ids on log records, Prometheus helpers.
//     tracing/otelsetup installs OpenTelemetry in one call;
//     tracing/tracinggrpc traces gRPC.
//
// Testing: each port has a conformance suite that every implementation
// passes, for yours too: eventbus/eventbustest, discovery/discoverytest,
// saga/sagatest. breaker/breakertest has a manual clock.
//
// # Which package do I need
//
//   - A dependency fails or hangs and takes you down with it: breaker.
//   - You call other services and need to find their instances: discovery
//     (with discovery/consul in production).
//   - Clients need one front door with auth and rate limits: gateway.
//   - Services react to each other's events: eventbus with an adapter for
//     your broker.
//   - You change the database and publish an event about it: eventbus/outbox
//     (never publish after the commit; a crash in between loses the event).
//   - One business action spans several services and must be undone as a
//     whole when a step fails: saga.
//   - You need to follow one request through all of it: tracing.
//
// The guides in the repository's docs directory explain each pattern, its
// naive version and where that breaks; docs/choosing.md expands the list
// above. The example shop (go run ./examples/shop) puts every package
// together in five services behind a gateway.
package microkit
