package rabbitbus_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/rabbitbus"
	"github.com/go-microkit/microkit/retry"
)

// A service publishes OrderCreated to the "domain_events" exchange
// and consumes it in the "billing" group with a router. It needs a broker,
// so the example only compiles.
func Example() {
	ctx := context.Background()
	bus, err := rabbitbus.Connect(ctx, "amqp://guest:guest@127.0.0.1:5672/")
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		// Close drains the bus; bound the wait so that shutdown cannot hang.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = bus.Close(ctx)
	}()

	router, err := eventbus.NewRouter(bus, "billing", eventbus.WithMiddleware(
		eventbus.DeadLetter(bus),
		eventbus.Retry(retry.Policy{MaxAttempts: 5}),
	))
	if err != nil {
		log.Fatal(err)
	}
	type OrderCreated struct {
		OrderID string `json:"orderId"`
	}
	err = eventbus.On(router, "order.created", func(ctx context.Context, e OrderCreated) error {
		fmt.Println("bill order", e.OrderID)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := router.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer router.Close(ctx)

	msg, err := eventbus.NewMessage("order.created", OrderCreated{OrderID: "o-1"})
	if err != nil {
		log.Fatal(err)
	}
	// Publish returns once the broker confirmed the message.
	if err := bus.Publish(ctx, msg); err != nil {
		log.Fatal(err)
	}
}
