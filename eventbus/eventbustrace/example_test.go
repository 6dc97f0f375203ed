package eventbustrace_test

import (
	"context"
	"fmt"
	"sort"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbustrace"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// One trace from the publisher, through the bus, to the handler.
func ExamplePublisher() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	tr, _ := tracing.New(tracing.WithTracerProvider(tp), tracing.WithPropagator(propagation.TraceContext{}))

	ctx := context.Background()
	bus, _ := memory.New()
	defer bus.Close(ctx)
	pub := eventbustrace.Publisher(bus, "memory", eventbustrace.WithTracer(tr))

	r, _ := eventbus.NewRouter(bus, "billing",
		eventbus.WithMiddleware(eventbustrace.Middleware("memory", eventbustrace.WithTracer(tr))))
	done := make(chan struct{})
	_ = r.Handle("order.created", func(ctx context.Context, msg *eventbus.Message) error {
		close(done)
		return nil
	})
	_ = r.Start(ctx)

	msg, _ := eventbus.NewMessage("order.created", map[string]string{"orderId": "o-1"})
	_ = pub.Publish(ctx, msg)
	<-done
	_ = r.Close(ctx)

	var names []string
	traces := map[string]bool{}
	for _, s := range spans.Ended() {
		names = append(names, s.SpanKind().String()+" "+s.Name())
		traces[s.SpanContext().TraceID().String()] = true
	}
	sort.Strings(names)
	fmt.Println(names, "traces:", len(traces))
	// Output: [consumer process order.created producer send order.created] traces: 1
}
