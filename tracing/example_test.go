package tracing_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-microkit/microkit/tracing"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Do is the Go form of a @traced method: the function runs inside a span,
// and spans it starts from its ctx are children of that span.
func ExampleDo() {
	// In a service, otelsetup.Setup installs the global providers and
	// tracing.Do uses them. Here a Tracer records spans in memory instead.
	rec := tracetest.NewSpanRecorder()
	tr, err := tracing.New(tracing.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))))
	if err != nil {
		panic(err)
	}

	err = tr.Do(context.Background(), "CreateOrder", func(ctx context.Context) error {
		return tr.Do(ctx, "ReserveStock", func(ctx context.Context) error {
			return errors.New("out of stock")
		})
	})
	fmt.Println("error:", err)
	for _, s := range rec.Ended() {
		fmt.Printf("%s: %s %q\n", s.Name(), s.Status().Code, s.Status().Description)
	}
	// Output:
	// error: out of stock
	// ReserveStock: Error "out of stock"
	// CreateOrder: Error "out of stock"
}

// StartPublish and StartProcess put publisher and consumer in one trace: the
// message's metadata carries the creation context.
func ExampleStartProcess() {
	rec := tracetest.NewSpanRecorder()
	tr, err := tracing.New(
		tracing.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))),
		tracing.WithPropagator(w3c),
	)
	if err != nil {
		panic(err)
	}
	info := tracing.MessageInfo{System: "nats", Destination: "orders.created", ID: "m-1"}

	// Publisher: a PRODUCER span, injected into the message metadata.
	md := map[string]string{}
	ctx, send := tr.StartPublish(context.Background(), info)
	tr.Inject(ctx, md)
	send.End()

	// Consumer, in another process: a CONSUMER span, child of the producer.
	info.ConsumerGroup, info.Attempt = "billing", 1
	ctx, process := tr.StartProcess(context.Background(), info, md)
	tracing.MessageAcked(ctx)
	process.End()

	s := rec.Ended()
	fmt.Println(s[0].Name(), s[0].SpanKind())
	fmt.Println(s[1].Name(), s[1].SpanKind())
	fmt.Println("same trace:", s[1].SpanContext().TraceID() == s[0].SpanContext().TraceID())
	fmt.Println("child of send:", s[1].Parent().SpanID() == s[0].SpanContext().SpanID())
	fmt.Println("links to send:", s[1].Links()[0].SpanContext.SpanID() == s[0].SpanContext().SpanID())
	fmt.Println("events:", s[1].Events()[0].Name)
	// Output:
	// send orders.created producer
	// process orders.created consumer
	// same trace: true
	// child of send: true
	// links to send: true
	// events: ack
}

// TracedCall wraps a function value once: the result has the same
// signature, and each call runs in a span.
func ExampleTracedCall() {
	rec := tracetest.NewSpanRecorder()
	tr, err := tracing.New(
		tracing.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))),
		tracing.WithInstrumentationScope("example.com/shop/orders", "1.4.0"),
	)
	if err != nil {
		panic(err)
	}
	price := func(_ context.Context, sku string) (int, error) {
		if sku == "" {
			return 0, errors.New("no sku")
		}
		return 2900, nil
	}

	tracedPrice := tracing.TracedCall(tr, "PriceItem", price)
	cents, err := tracedPrice(context.Background(), "p-mouse")
	fmt.Println(cents, err)
	_, err = tracedPrice(context.Background(), "")
	fmt.Println(err)
	for _, s := range rec.Ended() {
		fmt.Printf("%s (%s): %s\n", s.Name(), s.InstrumentationScope().Name, s.Status().Code)
	}
	// Output:
	// 2900 <nil>
	// no sku
	// PriceItem (example.com/shop/orders): Unset
	// PriceItem (example.com/shop/orders): Error
}
