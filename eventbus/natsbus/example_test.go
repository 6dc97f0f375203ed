package natsbus_test

import (
	"context"
	"log"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/retry"
)

// Connect to NATS, publish durably and consume with a router. It needs a
// running NATS server with JetStream, so it is compiled, not run.
func ExampleConnect() {
	ctx := context.Background()
	bus, err := natsbus.Connect(ctx, "nats://127.0.0.1:4222",
		natsbus.WithStream("ORDERS"), natsbus.WithSubjectPrefix("orders"),
		natsbus.WithAckWait(time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		// Close drains the bus; bound the wait so that shutdown cannot hang.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = bus.Close(ctx)
	}()

	r, _ := eventbus.NewRouter(bus, "billing", eventbus.WithConcurrency(8), eventbus.WithMiddleware(
		eventbus.DeadLetter(bus), eventbus.Retry(retry.Policy{MaxAttempts: 5}), eventbus.Recover()))
	_ = r.Handle("order.created", func(ctx context.Context, msg *eventbus.Message) error {
		log.Printf("order %s", msg.Subject)
		return nil
	})
	if err := r.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer r.Close(ctx)

	msg, _ := eventbus.NewMessage("order.created", map[string]any{"orderId": "o-1"})
	msg.Subject = "o-1"
	if err := bus.Publish(ctx, msg); err != nil {
		log.Fatal(err)
	}
}
