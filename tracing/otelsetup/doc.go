// Package otelsetup installs OpenTelemetry for a microkit service in one
// call: a TracerProvider with an exporter, a MeterProvider whose metrics are
// served by Prometheus, the W3C trace-context and baggage propagator, and a
// resource naming the service.
//
// Start with [Setup], first thing in main, and defer the shutdown it returns
// so that buffered spans are flushed on exit. After it, the helpers of
// package tracing (Do, Middleware, StartPublish, ...) and tracinggrpc record
// to the installed providers.
//
// It is a subpackage of tracing so that a library which only starts spans
// compiles none of the SDK, the OTLP exporters and gRPC: only a main package
// imports otelsetup.
package otelsetup
