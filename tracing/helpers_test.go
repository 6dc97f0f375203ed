package tracing_test

import (
	"testing"

	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// w3c is the propagator otelsetup installs: trace context and baggage.
var w3c = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// newRecorded returns a Tracer bound to an SDK provider that records every
// span in memory, and the recorder.
func newRecorded(t testing.TB) (*tracing.Tracer, *tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	tr, err := tracing.New(tracing.WithTracerProvider(tp), tracing.WithPropagator(w3c))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tr, rec, tp
}

// attrMap turns span attributes into a map for comparisons.
func attrMap(kvs []attribute.KeyValue) map[attribute.Key]any {
	m := make(map[attribute.Key]any, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value.AsInterface()
	}
	return m
}

// spanNamed returns the one ended span called name.
func spanNamed(t testing.TB, rec *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	return findSpan(t, rec, name, func(sdktrace.ReadOnlySpan) bool { return true })
}

// spanOfKind returns the one ended span called name of the given kind.
func spanOfKind(t testing.TB, rec *tracetest.SpanRecorder, name string, kind trace.SpanKind) sdktrace.ReadOnlySpan {
	t.Helper()
	return findSpan(t, rec, name, func(s sdktrace.ReadOnlySpan) bool { return s.SpanKind() == kind })
}

func findSpan(t testing.TB, rec *tracetest.SpanRecorder, name string, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name && match(s) {
			if found != nil {
				t.Fatalf("two ended spans named %q", name)
			}
			found = s
		}
	}
	if found == nil {
		var names []string
		for _, s := range rec.Ended() {
			names = append(names, s.Name())
		}
		t.Fatalf("no ended span named %q; ended: %q", name, names)
	}
	return found
}
