package tracing_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestTraced(t *testing.T) {
	tr, rec, _ := newRecorded(t)
	var fail bool
	reserve := tracing.Traced(tr, "ReserveStock", func(ctx context.Context) error {
		if !trace.SpanFromContext(ctx).SpanContext().IsValid() {
			t.Error("fn's ctx holds no span")
		}
		if fail {
			return errOutOfStock
		}
		return nil
	}, trace.WithAttributes(attribute.String("shop", "main")))

	if err := reserve(t.Context()); err != nil {
		t.Fatalf("first call = %v", err)
	}
	fail = true
	if err := reserve(t.Context()); !errors.Is(err, errOutOfStock) {
		t.Fatalf("second call = %v, want fn's error", err)
	}
	ended := rec.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans ended, want one per call", len(ended))
	}
	for i, want := range []codes.Code{codes.Unset, codes.Error} {
		s := ended[i]
		if s.Name() != "ReserveStock" || s.Status().Code != want || attrMap(s.Attributes())["shop"] != "main" {
			t.Errorf("call %d: span %q status %v attributes %v; want ReserveStock, %v, shop=main", i, s.Name(), s.Status(), s.Attributes(), want)
		}
	}
}

func TestTracedCall(t *testing.T) {
	tr, rec, _ := newRecorded(t)
	price := tracing.TracedCall(tr, "PriceItem", func(ctx context.Context, sku string) (int, error) {
		if sku == "" {
			return 0, errOutOfStock
		}
		// A span fn starts is a child of the wrapper's.
		return tracing.CallWith(ctx, tr, "LookupPrice", func(context.Context) (int, error) { return len(sku) * 100, nil })
	})

	got, err := price(t.Context(), "p-mouse")
	if err != nil || got != 700 {
		t.Fatalf("price(p-mouse) = %d, %v; want 700, nil", got, err)
	}
	outer, inner := spanNamed(t, rec, "PriceItem"), spanNamed(t, rec, "LookupPrice")
	if inner.Parent().SpanID() != outer.SpanContext().SpanID() {
		t.Errorf("LookupPrice parent = %v, want PriceItem %v", inner.Parent().SpanID(), outer.SpanContext().SpanID())
	}
	if outer.Status().Code != codes.Unset {
		t.Errorf("PriceItem status = %v, want Unset", outer.Status())
	}

	if _, err := price(t.Context(), ""); !errors.Is(err, errOutOfStock) {
		t.Fatalf("price(\"\") = %v, want fn's error", err)
	}
	if ended := rec.Ended(); len(ended) != 3 || ended[2].Name() != "PriceItem" || ended[2].Status().Code != codes.Error {
		t.Errorf("the failing call's span is not an ended PriceItem with status Error: %v", ended)
	}

	explode := tracing.TracedCall(tr, "Explode", func(context.Context, int) (string, error) { panic("boom") })
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the panic to go on", r)
			}
		}()
		_, _ = explode(t.Context(), 1)
	}()
	if s := spanNamed(t, rec, "Explode"); s.Status().Code != codes.Error {
		t.Errorf("Explode status = %v, want Error", s.Status())
	}
}

// A nil Tracer means the default one, which follows the global provider.
func TestTracedNilTracerUsesGlobalProvider(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	if err := tracing.Traced(nil, "Global", nop)(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := tracing.TracedCall(nil, "GlobalCall", func(_ context.Context, n int) (string, error) { return strconv.Itoa(n), nil })(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Global", "GlobalCall"} {
		if s := spanNamed(t, rec, name); s.InstrumentationScope().Name != tracing.ScopeName {
			t.Errorf("%s scope = %v, want %s", name, s.InstrumentationScope(), tracing.ScopeName)
		}
	}
}
