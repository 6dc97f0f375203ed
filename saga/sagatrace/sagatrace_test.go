package sagatrace_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagatrace"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

type order struct{}

var errBoom = errors.New("boom")

func ok(context.Context, *order) error { return nil }

func boom(context.Context, *order) error { return retry.Permanent(errBoom) }

// setup returns a saga "test" of steps a (succeeds) and b (fails if bFails),
// registered on an orchestrator that traces with opts.
func setup(t *testing.T, bFails bool, opts ...sagatrace.Option) (*saga.Saga[order], *saga.Orchestrator) {
	t.Helper()
	b := saga.Step[order]{Name: "b", Execute: ok, Compensate: ok}
	if bFails {
		b.Execute = boom
	}
	def, err := saga.New("test", saga.Step[order]{Name: "a", Execute: ok, Compensate: ok}, b)
	if err != nil {
		t.Fatal(err)
	}
	tracer, err := sagatrace.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	o, err := saga.NewOrchestrator(saga.NewMemoryStore(), saga.WithTracer(tracer))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close(context.Background()) })
	if err := o.Register(def); err != nil {
		t.Fatal(err)
	}
	return def, o
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var n []string
	for _, s := range spans {
		n = append(n, s.Name())
	}
	return n
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	def, o := setup(t, true, sagatrace.WithTracerProvider(tp))
	if _, err := def.Run(context.Background(), o, order{}, saga.WithID("s-1")); err == nil {
		t.Fatal("want an error")
	}
	spans := exp.GetSpans().Snapshots()
	want := []string{"saga step a", "saga step b", "saga compensate b", "saga compensate a", "saga test"}
	if got := names(spans); !slices.Equal(got, want) {
		t.Fatalf("spans = %q, want %q", got, want)
	}
	root := spans[4]
	for _, s := range spans[:4] {
		if s.Parent().SpanID() != root.SpanContext().SpanID() {
			t.Errorf("span %s is not a child of the saga span", s.Name())
		}
		if s.InstrumentationScope().Name != sagatrace.ScopeName {
			t.Errorf("span %s has scope %q", s.Name(), s.InstrumentationScope().Name)
		}
	}
	if spans[1].Status().Code != codes.Error || root.Status().Code != codes.Error {
		t.Errorf("failed step and saga spans are not marked as errors")
	}
	for _, s := range []sdktrace.ReadOnlySpan{spans[0], spans[2], spans[3]} {
		if s.Status().Code != codes.Unset || len(s.Events()) != 0 {
			t.Errorf("span %s: status %v, events %v", s.Name(), s.Status(), s.Events())
		}
	}
	if ev := spans[1].Events(); len(ev) != 1 || ev[0].Name != "exception" {
		t.Errorf("failed step span events = %v, want one exception", ev)
	}
	if a := attrs(root); a["saga.id"].AsString() != "s-1" || a["saga.status"].AsString() != "compensated" || len(a) != 2 {
		t.Errorf("saga span attributes = %v", a)
	}
	if a := attrs(spans[1]); a["saga.id"].AsString() != "s-1" || a["saga.step"].AsString() != "b" || a["saga.attempt"].AsInt64() != 1 || len(a) != 3 {
		t.Errorf("step span attributes = %v", a)
	}
}

// TestSampledOut: under a saga span that is not recording, the attempts get
// no span.
func TestSampledOut(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.NeverSample()))
	def, o := setup(t, true, sagatrace.WithTracerProvider(tp))
	if _, err := def.Run(context.Background(), o, order{}); err == nil {
		t.Fatal("want an error")
	}
	if got := exp.GetSpans(); len(got) != 0 {
		t.Errorf("sampled-out saga exported %d spans", len(got))
	}
}

func TestNilOption(t *testing.T) {
	if _, err := sagatrace.New(nil); err != nil {
		t.Errorf("New(nil) = %v, want a nil Option skipped", err)
	}
	// A nil provider means the global one.
	if _, err := sagatrace.New(sagatrace.WithTracerProvider(nil)); err != nil {
		t.Errorf("WithTracerProvider(nil): %v", err)
	}
}

var (
	installGlobal  sync.Once
	globalExporter *tracetest.InMemoryExporter
)

// TestGlobalProviderSetAfterTheTracer checks that a tracer on the default
// (global) provider traces once an SDK is installed, even after the tracer
// and orchestrator were created: the no-SDK shortcut must not stick. It
// installs a global provider, once, for the rest of the test binary, which
// the other tests do not mind.
func TestGlobalProviderSetAfterTheTracer(t *testing.T) {
	def, o := setup(t, false)
	if _, err := def.Run(context.Background(), o, order{}); err != nil {
		t.Fatal(err)
	}
	installGlobal.Do(func() {
		globalExporter = tracetest.NewInMemoryExporter()
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(globalExporter)))
	})
	before := len(globalExporter.GetSpans())
	if _, err := def.Run(context.Background(), o, order{}); err != nil {
		t.Fatal(err)
	}
	got := names(globalExporter.GetSpans().Snapshots()[before:])
	if want := []string{"saga step a", "saga step b", "saga test"}; !slices.Equal(got, want) {
		t.Fatalf("spans = %q, want %q", got, want)
	}
}
