package eventbus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/retry"
)

// A batch handler that writes its orders with one multi-row insert: a
// message it cannot take is named in a *BatchError and dead-lettered
// alone, and the rest of the batch is acknowledged.
func ExampleOnBatch() {
	ctx := context.Background()
	bus, _ := memory.New()
	defer bus.Close(ctx)
	parked, _ := bus.Subscribe(ctx, "ops", "deadletter.>")

	quiet := slog.New(slog.DiscardHandler)
	r, _ := eventbus.NewRouter(bus, "billing", eventbus.WithLogger(quiet), eventbus.WithMiddleware(
		eventbus.DeadLetter(bus, eventbus.DeadLetterLogger(quiet)),
		eventbus.Retry(retry.Policy{MaxAttempts: 3, Backoff: retry.Backoff{Initial: time.Millisecond}}),
	))
	inserted := make(chan []string, 1)
	_ = eventbus.OnBatch(r, "order.created", func(ctx context.Context, orders []OrderCreated) error {
		failed := &eventbus.BatchError{}
		var rows []string
		for i, o := range orders {
			if o.Total < 0 {
				failed.Fail(i, retry.Permanent(errors.New("negative total")))
				continue
			}
			rows = append(rows, o.OrderID)
		}
		// One INSERT … VALUES (…), (…) of rows would go here.
		inserted <- rows
		return failed.Err()
	}, eventbus.HandlerBatchSize(3), eventbus.HandlerBatchWait(time.Second))
	if err := r.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close(ctx)

	var msgs []*eventbus.Message
	for _, o := range []OrderCreated{{"o-1", 10}, {"o-2", -5}, {"o-3", 7}} {
		m, _ := eventbus.NewMessage("order.created", o)
		msgs = append(msgs, m)
	}
	if err := bus.Publish(ctx, msgs...); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("inserted", <-inserted)
	d, _ := parked.Next(ctx)
	o, _ := eventbus.Decode[OrderCreated](d.Message())
	fmt.Println("parked", o.OrderID, "because", d.Message().Metadata[eventbus.MetaDeadLetterReason])
	_ = d.Ack(ctx)
	// Output:
	// inserted [o-1 o-3]
	// parked o-2 because negative total
}
