package tracing_test

import (
	"context"
	"testing"

	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel/trace/noop"
)

// TestNoProviderCostsNoMoreThanTheNoopAPI checks the "zero cost when unused"
// promise by counting allocations, which are deterministic (times are only
// measured in benchmarks): with the no-op provider, each helper allocates no
// more than the hand-written no-op API calls it stands for.
func TestNoProviderCostsNoMoreThanTheNoopAPI(t *testing.T) {
	tp := noop.NewTracerProvider()
	tr, err := tracing.New(tracing.WithTracerProvider(tp), tracing.WithPropagator(w3c))
	if err != nil {
		t.Fatal(err)
	}
	tracer := tp.Tracer(tracing.ScopeName)
	ctx := context.Background()
	info := tracing.MessageInfo{System: "nats", Destination: "orders.created", ID: "m-1", BodySize: 9, ConsumerGroup: "billing", Attempt: 2}
	md := map[string]string{}
	traced := tracing.Traced(tr, "ReserveStock", nop)
	tracedCall := tracing.TracedCall(tr, "PriceItem", func(_ context.Context, n int) (int, error) { return n * 100, nil })

	baseline := testing.AllocsPerRun(200, func() {
		_, span := tracer.Start(ctx, "op")
		span.End()
	})
	for _, tt := range []struct {
		name string
		fn   func()
	}{
		{"Do", func() { _ = tr.Do(ctx, "CreateOrder", nop) }},
		{"Call", func() {
			_, _ = tracing.CallWith(ctx, tr, "PriceOrder", func(context.Context) (int, error) { return 1, nil })
		}},
		{"Traced", func() { _ = traced(ctx) }},
		{"TracedCall", func() { _, _ = tracedCall(ctx, 2) }},
		{"StartPublish+Inject", func() {
			ctx, span := tr.StartPublish(ctx, info)
			tr.Inject(ctx, md)
			span.End()
		}},
		{"StartProcess+settle", func() {
			ctx, span := tr.StartProcess(ctx, info, md)
			tracing.MessageAcked(ctx)
			tracing.MessageNacked(ctx, errBench)
			tracing.MessageDeadLettered(ctx, "poison")
			span.End()
		}},
	} {
		if got := testing.AllocsPerRun(200, tt.fn); got > baseline {
			t.Errorf("%s with the no-op provider: %v allocs/op, the no-op API alone %v", tt.name, got, baseline)
		}
	}
}
