// Package microkit is a toolkit of microservice building blocks: one
// importable package per pattern, each usable on its own, each written to
// keep its promise when production misbehaves (a broker restart, a lost
// reply, a slow instance, a crash mid-transaction). This package holds no
// code; it says where to start. Import only the packages you need: a core
// package compiles nothing of NATS, RabbitMQ, Consul, Prometheus,
// OpenTelemetry or a database driver, which live in subpackages of their
// own.
//
// # Packages
//
// Calls between services:
//
//   - retry: the one retry vocabulary every package uses: a retry budget,
//     permanent errors, idempotent HTTP requests, exponential backoff.
//   - breaker: circuit breaker for any call, with an HTTP transport and keyed
//     sets.
//   - breaker/breakergrpc: a breaker in front of gRPC client calls.
//   - breaker/breakermetrics: Prometheus metrics and span events for
//     breakers.
//   - discovery: registry ports, self-registration, health handlers, resolver,
//     balancers, outlier ejection.
//   - discovery/consul: the Consul registry.
//   - discovery/grpcresolver: gRPC clients resolved through a registry.
//   - discovery/discoverymetrics: Prometheus metrics for the resolver.
//   - discovery/discoverytest: the conformance suite every registry passes.
//   - gateway: API gateway and API composition from net/http middleware.
//   - gateway/jwtauth: JWT bearer authentication.
//   - gateway/ratelimit: per-user or per-IP rate limits, and limits on failed
//     logins.
//   - gateway/ratelimit/redislimit: one rate-limit budget shared by every
//     gateway instance.
//   - gateway/discoverytarget: routes to a discovered service.
//   - gateway/routefile: routes from a YAML or JSON file.
//   - gateway/gatewaymetrics: Prometheus metrics per route.
//   - gateway/gatewaytrace: trace context to upstreams without a client span
//     per call.
//
// Events between services:
//
//   - eventbus: message envelope, Publisher and Subscriber ports, a Router
//     with consumer groups.
//   - eventbus/memory: the in-process bus, also the test double.
//   - eventbus/natsbus: the NATS JetStream adapter.
//   - eventbus/natsbus/natstest: an embedded, restartable nats-server for
//     tests.
//   - eventbus/rabbitbus: the RabbitMQ adapter.
//   - eventbus/outbox: transactional outbox and SQL inbox.
//   - eventbus/outbox/pgnotify: wakes the outbox relay through PostgreSQL
//     LISTEN/NOTIFY.
//   - eventbus/outbox/outboxmetrics: Prometheus metrics for outbox relays.
//   - eventbus/inbox: in-memory dedupe middleware.
//   - eventbus/dlq: dead letters kept in SQL, listed and replayed.
//   - eventbus/eventbusmetrics: Prometheus metrics for handlers and
//     publishers.
//   - eventbus/eventbustrace: one trace from publisher through the broker to
//     the handler.
//   - eventbus/eventbustest: the conformance suite every adapter passes.
//   - cmd/microkit-dlq: the command line for dead letters.
//
// Consistency across services:
//
//   - saga: durable orchestrated sagas with compensations and crash recovery.
//   - saga/sqlstore: the saga store on PostgreSQL or SQLite.
//   - saga/sagametrics: Prometheus metrics for sagas.
//   - saga/sagatrace: OpenTelemetry spans per saga run and step attempt.
//   - saga/sagatest: the conformance suite every saga store passes.
//   - sqldialect: the SQL dialect (PostgreSQL or SQLite) every SQL store
//     takes (outbox, inbox, dlq, saga/sqlstore), the SQLite data source
//     name and the pool size.
//
// Observability:
//
//   - tracing: one trace across HTTP, gRPC and the bus; a span around any
//     function.
//   - tracing/otelsetup: OpenTelemetry installed in one call.
//   - tracing/tracinggrpc: traced gRPC clients and servers.
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
//   - Your own code retries and must not bury a failing service or repeat
//     a POST: retry.
//
// # One way to do each thing
//
// Every package is built the same way, so learning one teaches the rest:
// New…(required, opts...) constructors with WithX options, where a nil
// option argument means the default; two lifecycles (a Run(ctx) loop you
// run, or a Close(ctx) for a value that started goroutines); sentinel and
// typed errors that wrap; time from package time, so tests use
// testing/synctest; context accessors named XFromContext; one retry
// vocabulary in package retry. docs/conventions.md spells it out.
//
// The guides in the repository's docs directory explain each pattern, its
// naive version and where that breaks; docs/choosing.md expands the list
// above. The example shop (go run ./examples/shop) puts every package
// together in five services behind a gateway.
package microkit
