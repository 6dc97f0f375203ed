package eventbus_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/retry"
)

// OrderCreated is the payload of "order.created" events.
type OrderCreated struct {
	OrderID string `json:"orderId"`
	Total   int    `json:"total"`
}

// A service that reacts to order events: a typed handler, retries with
// backoff, and poison messages parked as "deadletter.order.created".
func ExampleRouter() {
	ctx := context.Background()
	bus, _ := memory.New()
	defer bus.Close(ctx)

	r, _ := eventbus.NewRouter(bus, "billing", eventbus.WithMiddleware(
		eventbus.Correlate(),
		eventbus.DeadLetter(bus),
		eventbus.Retry(retry.Policy{MaxAttempts: 3, Backoff: retry.Backoff{Initial: time.Millisecond}}),
		eventbus.Timeout(5*time.Second),
		eventbus.Recover(),
	))
	invoiced := make(chan string)
	_ = eventbus.On(r, "order.created", func(ctx context.Context, e OrderCreated) error {
		invoiced <- fmt.Sprintf("invoice for %s: %d", e.OrderID, e.Total)
		return nil
	})
	if err := r.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close(ctx)

	msg, _ := eventbus.NewMessage("order.created", OrderCreated{OrderID: "o-42", Total: 1250})
	if err := bus.Publish(ctx, msg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(<-invoiced)
	// Output: invoice for o-42: 1250
}

func ExampleDecode() {
	msg, _ := eventbus.NewMessage("order.created", OrderCreated{OrderID: "o-1", Total: 7})
	e, err := eventbus.Decode[OrderCreated](msg)
	fmt.Println(e.OrderID, e.Total, err)

	_, err = eventbus.Decode[OrderCreated](&eventbus.Message{Data: []byte(`{"total":`)})
	fmt.Println(err != nil)
	// Output:
	// o-1 7 <nil>
	// true
}

func ExampleMarshal() {
	msg := &eventbus.Message{
		ID:      "3f1c",
		Type:    "order.created",
		Source:  "/orders",
		Subject: "o-1",
		Time:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Data:    []byte(`{"orderId":"o-1"}`),
	}
	b, _ := eventbus.Marshal(msg)
	fmt.Println(string(b))
	back, _ := eventbus.Unmarshal(b)
	fmt.Println(back.Type, back.Subject)
	// Output:
	// {"specversion":"1.0","id":"3f1c","type":"order.created","source":"/orders","subject":"o-1","time":"2026-01-02T03:04:05Z","data":{"orderId":"o-1"}}
	// order.created o-1
}

func ExamplePermanent() {
	h := func(ctx context.Context, msg *eventbus.Message) error {
		if len(msg.Data) == 0 {
			// Retrying cannot fix an empty payload: dead-letter it at once.
			return retry.Permanent(errors.New("empty payload"))
		}
		return nil
	}
	err := h(context.Background(), &eventbus.Message{})
	fmt.Println(retry.IsPermanent(err), err)
	// Output: true empty payload
}

func ExampleMatch() {
	fmt.Println(eventbus.Match("order.*", "order.created"))
	fmt.Println(eventbus.Match("order.*", "order.line.added"))
	fmt.Println(eventbus.Match("order.>", "order.line.added"))
	// Output:
	// true
	// false
	// true
}

// How the router settles a delivery for each result of its handler chain.
// On the last attempt, Retry turns even a handler's own delay into a
// permanent failure, and permanence wins.
func ExampleFateOf() {
	ctx := context.Background()
	busy := &eventbus.RetryError{Err: errors.New("ledger busy"), Delay: time.Second}
	for _, err := range []error{
		nil,
		errors.New("connection reset"),
		busy,
		retry.Permanent(errors.New("unknown currency")),
		retry.Permanent(&eventbus.ExhaustedError{Attempts: 5, Err: busy}),
	} {
		f := eventbus.FateOf(ctx, err)
		fmt.Println(f.Outcome, f.Delay)
	}
	// Output:
	// ack 0s
	// error 0s
	// retry 1s
	// permanent 0s
	// permanent 0s
}
