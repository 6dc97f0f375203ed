package sagatrace_test

import (
	"context"
	"fmt"

	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagatrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A span per saga run, with a child per step attempt.
func Example() {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	// Without WithTracerProvider, spans go to the global provider.
	tracer, _ := sagatrace.New(sagatrace.WithTracerProvider(tp))

	ctx := context.Background()
	o, _ := saga.NewOrchestrator(saga.NewMemoryStore(), saga.WithTracer(tracer))
	defer o.Close(ctx)
	type order struct{ Paid bool }
	def, _ := saga.New("checkout",
		saga.Step[order]{Name: "reserve", Execute: func(context.Context, *order) error { return nil }},
		saga.Step[order]{Name: "pay", Execute: func(_ context.Context, s *order) error { s.Paid = true; return nil }},
	)
	_ = o.Register(def)
	if _, err := def.Run(ctx, o, order{}); err != nil {
		fmt.Println(err)
	}

	for _, s := range exporter.GetSpans() {
		fmt.Println(s.Name)
	}
	// Output:
	// saga step reserve
	// saga step pay
	// saga checkout
}
