// Package tracing carries one trace across every hop a request takes in a
// microservice system (HTTP, gRPC and the message bus) and gives Go's
// idiomatic form of a @traced method decorator (a span around a call,
// ended with the call's outcome).
//
// # Where to start
//
//   - [Do] and [Call] run a function inside a span: the @traced decorator,
//     in Go. A returned error marks the span as failed; a panic ends the span
//     and keeps panicking. A success leaves the span's status Unset, as
//     OpenTelemetry asks of instrumentation; the function may set Ok itself.
//     [Traced] and [TracedCall] wrap a function value once and return one
//     of the same signature, for handlers and dependencies passed as funcs.
//   - [Middleware] and [Transport] trace HTTP servers and clients, built on
//     otelhttp, with spans named after the ServeMux route ("GET /orders/{id}");
//     [SetRoute] does the same for other routers.
//   - [Inject] and [Extract] carry trace context and baggage through message
//     metadata (map[string]string). [StartPublish] and [StartProcess] create
//     the PRODUCER and CONSUMER spans of the OpenTelemetry messaging
//     conventions, so that publisher and consumer share one trace;
//     [MessageAcked], [MessageNacked] and [MessageDeadLettered] record how a
//     message was settled. The eventbus package calls these.
//   - [NewRegistry], [Handler] and [ObserveWithExemplar] serve Prometheus
//     metrics named microkit_<package>_<metric>_<unit>, with the trace id as
//     exemplar.
//   - [LogHandler] puts trace_id and span_id on slog records, so that logs
//     and traces join up.
//
// gRPC stats handlers live in the subpackage tracing/tracinggrpc, and the
// one-call OpenTelemetry SDK setup (exporters, resource, propagators) in
// tracing/otelsetup, so that a package which only starts spans (eventbus,
// breaker, saga) compiles neither gRPC nor the SDK.
//
// # Providers
//
// The package-level functions use the global OpenTelemetry providers
// (otel.GetTracerProvider, otel.GetTextMapPropagator), which otelsetup.Setup
// installs. With none installed every helper is a no-op that allocates no
// more than the OpenTelemetry no-op API does. [New] builds a [Tracer] bound
// to explicit providers instead, or one whose spans carry the service's own
// instrumentation scope ([WithInstrumentationScope]) rather than [ScopeName].
package tracing
