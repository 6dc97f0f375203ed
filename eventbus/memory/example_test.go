package memory_test

import (
	"context"
	"fmt"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
)

// Two consumer groups each receive every event; a nacked delivery comes
// back with its attempt counted.
func ExampleBus() {
	ctx := context.Background()
	bus, _ := memory.New()
	defer bus.Close(ctx)

	billing, _ := bus.Subscribe(ctx, "billing", "order.>")
	shipping, _ := bus.Subscribe(ctx, "shipping", "order.created")

	msg, _ := eventbus.NewMessage("order.created", map[string]string{"orderId": "o-1"})
	_ = bus.Publish(ctx, msg)

	d, _ := shipping.Next(ctx)
	fmt.Println("shipping got", d.Message().Type, "attempt", d.Attempt())
	_ = d.Ack(ctx)

	d, _ = billing.Next(ctx)
	_ = d.Nack(ctx, 0) // failed: redeliver
	d, _ = billing.Next(ctx)
	fmt.Println("billing got", d.Message().Type, "attempt", d.Attempt())
	_ = d.Ack(ctx)
	// Output:
	// shipping got order.created attempt 1
	// billing got order.created attempt 2
}
