package tracing_test

import (
	"context"
	"errors"
	"testing"

	"github.com/go-microkit/microkit/tracing"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// providers are the two setups every benchmark runs under: the OTel no-op
// API (what a library user pays with no SDK installed) and the SDK sampling
// every span into a synchronous exporter that discards it (a batch
// processor would add a background goroutine, and noise, to the figures).
func providers(b *testing.B) []struct {
	name string
	tp   trace.TracerProvider
} {
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSyncer(tracetest.NewNoopExporter()),
	)
	b.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
	return []struct {
		name string
		tp   trace.TracerProvider
	}{{"noop", noop.NewTracerProvider()}, {"sdk", sdk}}
}

func newBenchTracer(b *testing.B, tp trace.TracerProvider) *tracing.Tracer {
	tr, err := tracing.New(tracing.WithTracerProvider(tp), tracing.WithPropagator(w3c))
	if err != nil {
		b.Fatal(err)
	}
	return tr
}

var errBench = errors.New("bench")

func nop(context.Context) error { return nil }

// BenchmarkDo measures Do against the hand-written OTel API calls it
// replaces (BenchmarkOTelAPI), on success and on error.
func BenchmarkDo(b *testing.B) {
	for _, p := range providers(b) {
		tr := newBenchTracer(b, p.tp)
		ctx := context.Background()
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = tr.Do(ctx, "CreateOrder", nop)
			}
		})
		b.Run(p.name+"/error", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = tr.Do(ctx, "CreateOrder", func(context.Context) error { return errBench })
			}
		})
	}
}

// BenchmarkOTelAPI is the baseline of BenchmarkDo: start, run, end by hand.
func BenchmarkOTelAPI(b *testing.B) {
	for _, p := range providers(b) {
		tracer := p.tp.Tracer(tracing.ScopeName)
		ctx := context.Background()
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctx, span := tracer.Start(ctx, "CreateOrder")
				_ = nop(ctx)
				span.End()
			}
		})
	}
}

func BenchmarkCall(b *testing.B) {
	for _, p := range providers(b) {
		tr := newBenchTracer(b, p.tp)
		ctx := context.Background()
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = tracing.CallWith(ctx, tr, "PriceOrder", func(context.Context) (int, error) { return 1299, nil })
			}
		})
	}
}

// BenchmarkMessage measures one publish (span, inject) and one process
// (extract, span, ack) of a message.
func BenchmarkMessage(b *testing.B) {
	info := tracing.MessageInfo{System: "nats", Destination: "orders.created", ID: "m-1", BodySize: 256, ConsumerGroup: "billing", Attempt: 1}
	for _, p := range providers(b) {
		tr := newBenchTracer(b, p.tp)
		ctx := context.Background()
		md := map[string]string{}
		b.Run(p.name+"/publish", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctx, span := tr.StartPublish(ctx, info)
				tr.Inject(ctx, md)
				span.End()
			}
		})
		b.Run(p.name+"/process", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctx, span := tr.StartProcess(ctx, info, md)
				tracing.MessageAcked(ctx)
				span.End()
			}
		})
	}
}
