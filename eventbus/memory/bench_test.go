package memory_test

import (
	"context"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/memory"
)

// BenchmarkPublishNextAck is one message through the bus: publish, deliver,
// acknowledge.
func BenchmarkPublishNextAck(b *testing.B) {
	ctx := context.Background()
	bus, _ := memory.New()
	defer bus.Close(context.Background())
	sub, _ := bus.Subscribe(ctx, "g", "order.>")
	m := &eventbus.Message{ID: "1", Type: "order.created", Subject: "o-1", Data: make([]byte, 256)}
	b.ReportAllocs()
	for b.Loop() {
		if err := bus.Publish(ctx, m); err != nil {
			b.Fatal(err)
		}
		d, err := sub.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Ack(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRouterBatch compares a batch handler with a single-message
// handler on the memory bus (see eventbustest.RunBatchBenchmark).
func BenchmarkRouterBatch(b *testing.B) {
	eventbustest.RunBatchBenchmark(b, func(b *testing.B) eventbustest.Instance {
		bus, err := memory.New()
		if err != nil {
			b.Fatal(err)
		}
		return eventbustest.Instance{Publisher: bus, Subscriber: bus}
	})
}
