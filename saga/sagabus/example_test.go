package sagabus_test

import (
	"context"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagabus"
)

// Order is the state of the order saga.
type Order struct {
	ID        string `json:"id"`
	PaymentID string `json:"payment_id"`
	Paid      bool   `json:"paid"`
}

// A saga that starts a payment and waits, at most 15 minutes, for the
// payment provider's confirmation, which arrives as an event on the bus:
// the saga parks (no goroutine, no lease) and the router's handler
// continues it.
func Example() {
	ctx := context.Background()
	orchestrator, _ := saga.NewOrchestrator(saga.NewMemoryStore())
	defer orchestrator.Close(ctx)
	shipped := make(chan string, 1)
	order, _ := saga.New("order",
		saga.Step[Order]{
			Name: "pay",
			Execute: func(ctx context.Context, o *Order) error {
				o.PaymentID = "pay-" + o.ID // the provider's ID for the payment
				return nil
			},
			Wait: &saga.Wait[Order]{
				Signal: true,
				For:    15 * time.Minute,
				Key:    func(o *Order) string { return o.PaymentID },
				OnSignal: func(_ context.Context, o *Order, sig saga.Signal) error {
					if sig.Type != "payment.confirmed" {
						return fmt.Errorf("payment %s: %s", o.PaymentID, sig.Type)
					}
					o.Paid = true
					return nil
				},
			},
		},
		saga.Step[Order]{Name: "ship", Execute: func(ctx context.Context, o *Order) error {
			shipped <- fmt.Sprintf("order %s shipped, paid: %v", o.ID, o.Paid)
			return nil
		}},
	)
	_ = orchestrator.Register(order)

	bus, _ := memory.New()
	defer bus.Close(ctx)
	router, _ := eventbus.NewRouter(bus, "orders")
	handler, _ := sagabus.Handler(orchestrator, sagabus.JSONKey("paymentId"))
	_ = router.Handle("payment.*", handler)
	_ = router.Start(ctx)
	defer router.Close(ctx)

	_, err := order.Run(ctx, orchestrator, Order{ID: "o-1"}, saga.WithID("o-1"))
	fmt.Println(err)

	msg, _ := eventbus.NewMessage("payment.confirmed", map[string]string{"paymentId": "pay-o-1"})
	_ = bus.Publish(ctx, msg)
	fmt.Println(<-shipped)
	// Output:
	// saga: order o-1: step pay: saga: waiting
	// order o-1 shipped, paid: true
}
