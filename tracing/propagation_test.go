package tracing_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestInjectExtractRoundTrip(t *testing.T) {
	tr, _, tp := newRecorded(t)
	ctx, span := tp.Tracer("test").Start(t.Context(), "op")
	defer span.End()

	md := map[string]string{}
	tr.Inject(ctx, md)
	want := span.SpanContext()
	if got := md["traceparent"]; got != "00-"+want.TraceID().String()+"-"+want.SpanID().String()+"-01" {
		t.Fatalf("traceparent = %q, want the span's W3C form", got)
	}
	got := trace.SpanContextFromContext(tr.Extract(context.Background(), md))
	if !got.IsRemote() || got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || !got.IsSampled() {
		t.Errorf("extracted %v, want remote copy of %v", got, want)
	}
}

func TestExtract(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tests := []struct {
		name      string
		md        map[string]string
		wantValid bool
	}{
		{name: "lower-case keys", md: map[string]string{"traceparent": tp}, wantValid: true},
		{name: "canonical header keys", md: map[string]string{"Traceparent": tp, "Baggage": "tenant=acme"}, wantValid: true},
		{name: "nil metadata", md: nil},
		{name: "no trace context", md: map[string]string{"content-type": "text/plain"}},
		{name: "malformed traceparent", md: map[string]string{"traceparent": "00-zz-b7ad6b7169203331-01"}},
		{name: "all-zero trace id", md: map[string]string{"traceparent": "00-00000000000000000000000000000000-b7ad6b7169203331-01"}},
	}
	tr, err := tracing.New(tracing.WithPropagator(w3c))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := trace.SpanContextFromContext(tr.Extract(context.Background(), tt.md))
			if sc.IsValid() != tt.wantValid {
				t.Fatalf("valid = %v, want %v (%v)", sc.IsValid(), tt.wantValid, sc)
			}
			if tt.wantValid && sc.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
				t.Errorf("trace id = %v", sc.TraceID())
			}
		})
	}
}

func TestInjectNilMetadata(t *testing.T) {
	tr, _, tp := newRecorded(t)
	ctx, span := tp.Tracer("test").Start(t.Context(), "op")
	defer span.End()
	tr.Inject(ctx, nil) // must not panic
}

// TestPackageLevelFunctionsFollowGlobals swaps the global providers, so it is
// not parallel; every other test binds explicit providers.
func TestPackageLevelFunctionsFollowGlobals(t *testing.T) {
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
	})
	otel.SetTextMapPropagator(w3c)

	// Two providers in turn: the default Tracer must follow each swap.
	for _, name := range []string{"first", "second"} {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		otel.SetTracerProvider(tp)

		md := map[string]string{}
		err := tracing.Do(t.Context(), name, func(ctx context.Context) error {
			ctx, span := tracing.StartPublish(ctx, orderCreated)
			tracing.Inject(ctx, md)
			span.End()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, span := tracing.StartProcess(context.Background(), orderCreated, md)
		tracing.MessageAcked(ctx)
		span.End()
		if got := len(rec.Ended()); got != 3 {
			t.Fatalf("%s provider recorded %d spans, want 3", name, got)
		}
		root := spanNamed(t, rec, name)
		if p := spanNamed(t, rec, "process orders.created"); p.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("%s: consumer trace %v, want %v", name, p.SpanContext().TraceID(), root.SpanContext().TraceID())
		}
		if err := tp.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  tracing.Option
	}{
		{"scope version without a name", tracing.WithInstrumentationScope("", "1.0.0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := tracing.New(tt.opt)
			if err == nil || tr != nil {
				t.Fatalf("New = %v, %v; want an error", tr, err)
			}
			if !strings.Contains(err.Error(), "tracing:") || !errors.Is(err, tracing.ErrInvalidOption) {
				t.Errorf("err = %v, want it to wrap ErrInvalidOption", err)
			}
		})
	}
}

// FuzzExtract feeds arbitrary header values to Extract. Whatever it accepts
// must survive a round trip: injected again and extracted, it is the same
// span context and baggage.
func FuzzExtract(f *testing.F) {
	f.Add("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "congo=t61rcWkgMzE", "tenant=acme,user=42")
	f.Add("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", "", "")
	f.Add("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-09-extra", "a=1,b=2", "k=v;prop=1")
	f.Add("", "", "%zz=1")
	f.Add("00-00000000000000000000000000000000-0000000000000000-01", "=", ",,,")
	tr, err := tracing.New(tracing.WithPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, traceparent, tracestate, bag string) {
		md := map[string]string{"traceparent": traceparent, "tracestate": tracestate, "baggage": bag}
		ctx := tr.Extract(context.Background(), md)
		sc := trace.SpanContextFromContext(ctx)
		b := baggage.FromContext(ctx)

		out := map[string]string{}
		tr.Inject(ctx, out)
		again := tr.Extract(context.Background(), out)
		sc2 := trace.SpanContextFromContext(again)
		if sc.IsValid() != sc2.IsValid() || sc.TraceID() != sc2.TraceID() || sc.SpanID() != sc2.SpanID() ||
			sc.TraceFlags() != sc2.TraceFlags() || sc.TraceState().String() != sc2.TraceState().String() {
			t.Fatalf("round trip changed span context: %v -> %v (md %q, out %q)", sc, sc2, md, out)
		}
		if b2 := baggage.FromContext(again); b.Len() != b2.Len() {
			t.Fatalf("round trip changed baggage: %q -> %q", b.String(), b2.String())
		}
	})
}

// taggedProvider is a provider of a comparable type that can hold an
// uncomparable value: comparing two of them with == panics.
type taggedProvider struct {
	noop.TracerProvider
	tag any
}

func TestGlobalProviderOfUncomparableValue(t *testing.T) {
	prevTP := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prevTP) })
	otel.SetTracerProvider(taggedProvider{tag: map[string]int{}})
	for range 2 { // the second span start compares against the cached provider
		if err := tracing.Do(t.Context(), "op", func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
}
