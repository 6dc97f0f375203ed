package tracing_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

var errOutOfStock = errors.New("out of stock")

func TestDoNested(t *testing.T) {
	tr, rec, _ := newRecorded(t)
	err := tr.Do(t.Context(), "CreateOrder", func(ctx context.Context) error {
		if err := tr.Do(ctx, "ReserveStock", func(context.Context) error { return errOutOfStock }); err != nil {
			return fmt.Errorf("reserve: %w", err)
		}
		return nil
	}, trace.WithAttributes(attribute.String("order.id", "o-1")))
	if !errors.Is(err, errOutOfStock) {
		t.Fatalf("Do = %v, want the inner error", err)
	}

	outer := spanNamed(t, rec, "CreateOrder")
	inner := spanNamed(t, rec, "ReserveStock")
	if outer.Parent().IsValid() {
		t.Errorf("CreateOrder parent = %v, want a root span", outer.Parent())
	}
	if inner.Parent().SpanID() != outer.SpanContext().SpanID() || inner.SpanContext().TraceID() != outer.SpanContext().TraceID() {
		t.Errorf("ReserveStock parent = %v, want CreateOrder %v", inner.Parent().SpanID(), outer.SpanContext().SpanID())
	}
	if got := attrMap(outer.Attributes())["order.id"]; got != "o-1" {
		t.Errorf("CreateOrder order.id = %v, want o-1 from the span option", got)
	}
	for _, s := range []struct {
		name, msg string
		status    codes.Code
	}{
		{"ReserveStock", "out of stock", codes.Error},
		{"CreateOrder", "reserve: out of stock", codes.Error},
	} {
		span := spanNamed(t, rec, s.name)
		if span.Status().Code != s.status || span.Status().Description != s.msg {
			t.Errorf("%s status = %v, want %v %q", s.name, span.Status(), s.status, s.msg)
		}
		if ev := span.Events(); len(ev) != 1 || ev[0].Name != "exception" || attrMap(ev[0].Attributes)["exception.message"] != s.msg {
			t.Errorf("%s events = %v, want one exception %q", s.name, ev, s.msg)
		}
	}
}

// The status Do gives a span: Unset on success (OpenTelemetry leaves Ok to
// the application), Error on an error, and an Ok that fn set stays, even
// when fn then fails, for the SDK treats Ok as final.
func TestDoStatus(t *testing.T) {
	setOK := func(ctx context.Context) { trace.SpanFromContext(ctx).SetStatus(codes.Ok, "") }
	tests := []struct {
		name       string
		fn         func(context.Context) error
		want       codes.Code
		exceptions int
	}{
		{"success", func(context.Context) error { return nil }, codes.Unset, 0},
		{"error", func(context.Context) error { return errOutOfStock }, codes.Error, 1},
		{"ok set by fn", func(ctx context.Context) error { setOK(ctx); return nil }, codes.Ok, 0},
		{"ok set by fn, then an error", func(ctx context.Context) error { setOK(ctx); return errOutOfStock }, codes.Ok, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, rec, _ := newRecorded(t)
			_ = tr.Do(t.Context(), "Ping", tt.fn)
			span := spanNamed(t, rec, "Ping")
			if span.Status().Code != tt.want || len(span.Events()) != tt.exceptions {
				t.Errorf("status %v, events %v; want %v and %d exception(s)", span.Status(), span.Events(), tt.want, tt.exceptions)
			}
		})
	}
}

func TestDoPanicEndsSpanAndKeepsPanicking(t *testing.T) {
	tests := []struct {
		name    string
		value   any
		wantMsg string
	}{
		{"string", "boom", "boom"},
		{"error", errOutOfStock, "out of stock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, rec, _ := newRecorded(t)
			got := func() (r any) {
				defer func() { r = recover() }()
				_ = tr.Do(t.Context(), "Explode", func(context.Context) error { panic(tt.value) })
				return nil
			}()
			if got != tt.value {
				t.Fatalf("recovered %v, want the original panic value %v", got, tt.value)
			}
			span := spanNamed(t, rec, "Explode") // ended, or spanNamed fails
			if span.Status().Code != codes.Error || span.Status().Description != "panic: "+tt.wantMsg {
				t.Errorf("status = %v, want Error %q", span.Status(), "panic: "+tt.wantMsg)
			}
			ev := span.Events()
			if len(ev) != 1 || ev[0].Name != "exception" {
				t.Fatalf("events = %v, want one exception", ev)
			}
			attrs := attrMap(ev[0].Attributes)
			if attrs["exception.message"] != tt.wantMsg {
				t.Errorf("exception.message = %v, want %q", attrs["exception.message"], tt.wantMsg)
			}
			if st, _ := attrs["exception.stacktrace"].(string); !strings.Contains(st, "TestDoPanicEndsSpanAndKeepsPanicking") {
				t.Errorf("exception.stacktrace does not show the panicking test function:\n%s", st)
			}
		})
	}
}

func TestCallPanicEndsSpan(t *testing.T) {
	tr, rec, _ := newRecorded(t)
	func() {
		defer func() { _ = recover() }()
		_, _ = tracing.CallWith(t.Context(), tr, "Explode", func(context.Context) (int, error) { panic("boom") })
	}()
	if span := spanNamed(t, rec, "Explode"); span.Status().Code != codes.Error {
		t.Errorf("status = %v, want Error", span.Status())
	}
}

func TestDoGoexitEndsSpan(t *testing.T) {
	tr, rec, _ := newRecorded(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A helper calling t.FailNow inside Do exits the goroutine this way.
		_ = tr.Do(context.Background(), "Exit", func(context.Context) error {
			runtime.Goexit()
			return nil
		})
	}()
	<-done
	if span := spanNamed(t, rec, "Exit"); span.Status().Code != codes.Error {
		t.Errorf("status = %v, want Error", span.Status())
	}
}

func TestCall(t *testing.T) {
	tr, rec, _ := newRecorded(t)
	total, err := tracing.CallWith(t.Context(), tr, "PriceOrder", func(ctx context.Context) (int, error) {
		return tracing.CallWith(ctx, tr, "LookupPrice", func(context.Context) (int, error) { return 1299, nil })
	})
	if err != nil || total != 1299 {
		t.Fatalf("Call = %d, %v; want 1299, nil", total, err)
	}
	if inner, outer := spanNamed(t, rec, "LookupPrice"), spanNamed(t, rec, "PriceOrder"); inner.Parent().SpanID() != outer.SpanContext().SpanID() {
		t.Errorf("LookupPrice parent = %v, want PriceOrder", inner.Parent().SpanID())
	}

	_, err = tracing.CallWith(t.Context(), tr, "Fails", func(context.Context) (string, error) { return "", errOutOfStock })
	if !errors.Is(err, errOutOfStock) {
		t.Fatalf("Call err = %v", err)
	}
	if s := spanNamed(t, rec, "Fails"); s.Status().Code != codes.Error {
		t.Errorf("Fails status = %v, want Error", s.Status())
	}
}
