package redisbus_test

import (
	"context"
	"log"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/redisbus"
	"github.com/go-microkit/microkit/retry"
)

// Connect to Redis, publish and consume with a router that retries and
// dead-letters. It needs a running Redis server, so it is compiled, not
// run.
func ExampleConnect() {
	ctx := context.Background()
	bus, err := redisbus.Connect(ctx, "127.0.0.1:6379",
		redisbus.WithStream("orders"), redisbus.WithClaimMinIdle(time.Minute), redisbus.WithMaxLen(1_000_000))
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		// Close hands unsettled entries back; bound the wait so that
		// shutdown cannot hang.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = bus.Close(ctx)
	}()

	r, _ := eventbus.NewRouter(bus, "billing", eventbus.WithConcurrency(8), eventbus.WithMiddleware(
		eventbus.DeadLetter(bus), eventbus.Retry(retry.Policy{MaxAttempts: 5}), eventbus.Recover()))
	_ = r.Handle("order.*", func(ctx context.Context, msg *eventbus.Message) error {
		log.Printf("%s %s", msg.Type, msg.Subject)
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
