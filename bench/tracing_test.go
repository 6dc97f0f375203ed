package bench

import (
	"context"
	"testing"

	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// No rival traces a message bus (nats.go, amqp091-go and watermill carry no
// trace context) or offers a Do-style span wrapper, so tracing is measured
// against what a user writes by hand with the OpenTelemetry API: the same
// spans, attributes and propagation, without microkit.

var tracingW3C = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

type tracingProvider struct {
	name string
	tp   trace.TracerProvider
}

func tracingProviders(b *testing.B) []tracingProvider {
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSyncer(tracetest.NewNoopExporter()),
	)
	b.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
	return []tracingProvider{{"noop", noop.NewTracerProvider()}, {"sdk", sdk}}
}

func tracingTracer(b *testing.B, tp trace.TracerProvider) *tracing.Tracer {
	tr, err := tracing.New(tracing.WithTracerProvider(tp), tracing.WithPropagator(tracingW3C))
	if err != nil {
		b.Fatal(err)
	}
	return tr
}

func work(context.Context) error { return nil }

// handDo is what tracing.Do replaces: start, run, record the error, end.
func handDo(ctx context.Context, tracer trace.Tracer, name string, fn func(context.Context) error) error {
	ctx, span := tracer.Start(ctx, name)
	defer span.End()
	err := fn(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

func BenchmarkTracingDo(b *testing.B) {
	for _, p := range tracingProviders(b) {
		tr := tracingTracer(b, p.tp)
		tracer := p.tp.Tracer("bench")
		ctx := context.Background()
		b.Run(p.name+"/microkit", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = tr.Do(ctx, "CreateOrder", work)
			}
		})
		b.Run(p.name+"/otel-by-hand", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = handDo(ctx, tracer, "CreateOrder", work)
			}
		})
	}
}

// handPublish and handProcess are the spans and propagation of
// tracing.StartPublish/StartProcess written with the OTel API, the way its
// documentation shows: attributes and links given at start.
func handPublish(ctx context.Context, tracer trace.Tracer, dest, id string, md map[string]string) {
	ctx, span := tracer.Start(ctx, "send "+dest, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send"),
			semconv.MessagingSystemKey.String("nats"), semconv.MessagingDestinationName(dest),
			semconv.MessagingMessageID(id),
		))
	tracingW3C.Inject(ctx, propagation.MapCarrier(md))
	span.End()
}

func handProcess(ctx context.Context, tracer trace.Tracer, dest, id string, attempt int, md map[string]string) {
	ctx = tracingW3C.Extract(ctx, propagation.MapCarrier(md))
	_, span := tracer.Start(ctx, "process "+dest, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(trace.Link{SpanContext: trace.SpanContextFromContext(ctx)}),
		trace.WithAttributes(
			semconv.MessagingOperationTypeProcess, semconv.MessagingOperationName("process"),
			semconv.MessagingSystemKey.String("nats"), semconv.MessagingDestinationName(dest),
			semconv.MessagingMessageID(id), semconv.MessagingConsumerGroupName("billing"),
			attribute.Int("microkit.messaging.delivery_attempt", attempt),
		))
	span.AddEvent("ack")
	span.End()
}

func BenchmarkTracingMessage(b *testing.B) {
	info := tracing.MessageInfo{System: "nats", Destination: "orders.created", ID: "m-1", ConsumerGroup: "billing", Attempt: 1}
	for _, p := range tracingProviders(b) {
		tr := tracingTracer(b, p.tp)
		tracer := p.tp.Tracer("bench")
		ctx := context.Background()
		md := map[string]string{}
		b.Run(p.name+"/publish/microkit", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctx, span := tr.StartPublish(ctx, info)
				tr.Inject(ctx, md)
				span.End()
			}
		})
		b.Run(p.name+"/publish/otel-by-hand", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				handPublish(ctx, tracer, info.Destination, info.ID, md)
			}
		})
		b.Run(p.name+"/process/microkit", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctx, span := tr.StartProcess(ctx, info, md)
				tracing.MessageAcked(ctx)
				span.End()
			}
		})
		b.Run(p.name+"/process/otel-by-hand", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				handProcess(ctx, tracer, info.Destination, info.ID, info.Attempt, md)
			}
		})
	}
}
