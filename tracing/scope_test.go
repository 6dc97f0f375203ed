package tracing_test

import (
	"context"
	"testing"

	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The exported spans carry the Tracer's instrumentation scope, whether it
// is bound to a provider or follows the global one; the message spans too.
func TestInstrumentationScope(t *testing.T) {
	microkit := instrumentation.Scope{Name: tracing.ScopeName, Version: tracing.Version}
	orders := instrumentation.Scope{Name: "example.com/shop/orders", Version: "1.4.0"}
	tests := []struct {
		name   string
		opts   []tracing.Option
		global bool
		want   instrumentation.Scope
	}{
		{"default", nil, false, microkit},
		{"default, global provider", nil, true, microkit},
		{"own scope", []tracing.Option{tracing.WithInstrumentationScope(orders.Name, orders.Version)}, false, orders},
		{"own scope, global provider", []tracing.Option{tracing.WithInstrumentationScope(orders.Name, orders.Version)}, true, orders},
		{"own scope without version", []tracing.Option{tracing.WithInstrumentationScope(orders.Name, "")}, false, instrumentation.Scope{Name: orders.Name}},
		{"empty means the default", []tracing.Option{tracing.WithInstrumentationScope("", "")}, false, microkit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			opts := tt.opts
			if tt.global {
				prev := otel.GetTracerProvider()
				otel.SetTracerProvider(tp)
				t.Cleanup(func() { otel.SetTracerProvider(prev) })
			} else {
				opts = append(opts, tracing.WithTracerProvider(tp))
			}
			tr, err := tracing.New(opts...)
			if err != nil {
				t.Fatal(err)
			}

			if err := tr.Do(t.Context(), "CreateOrder", nop); err != nil {
				t.Fatal(err)
			}
			_, span := tr.StartPublish(t.Context(), tracing.MessageInfo{System: "nats", Destination: "orders"})
			span.End()

			spans := exp.GetSpans()
			if len(spans) != 2 {
				t.Fatalf("%d spans exported, want 2", len(spans))
			}
			for _, s := range spans {
				if s.InstrumentationScope != tt.want {
					t.Errorf("%s scope = %+v, want %+v", s.Name, s.InstrumentationScope, tt.want)
				}
			}
		})
	}
}

// A nil provider or propagator means the global one.
func TestNewNilProvidersMeanTheGlobals(t *testing.T) {
	tr, err := tracing.New(tracing.WithTracerProvider(nil), tracing.WithMeterProvider(nil), tracing.WithPropagator(nil))
	if err != nil {
		t.Fatal(err)
	}
	if tr.TracerProvider() != otel.GetTracerProvider() || tr.MeterProvider() != otel.GetMeterProvider() || tr.Propagator() != otel.GetTextMapPropagator() {
		t.Error("a Tracer built with nil providers does not follow the global ones")
	}
}
