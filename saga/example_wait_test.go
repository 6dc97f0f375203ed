package saga_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/saga"
)

// A saga that waits for a payment provider's webhook: it parks after
// starting the payment, and the webhook's handler delivers the event with
// Signal, by the payment's ID. A redelivered webhook is a duplicate; one
// that comes after the saga finished is ErrSagaFinished, to answer 200 to.
func ExampleWait() {
	ctx := context.Background()
	orchestrator, _ := saga.NewOrchestrator(saga.NewMemoryStore())
	defer orchestrator.Close(ctx)
	checkout, _ := saga.New("checkout",
		saga.Step[OrderState]{
			Name: "charge",
			Execute: func(ctx context.Context, s *OrderState) error {
				s.PaymentID = "pi_" + s.OrderID // the provider answers "pending"
				return nil
			},
			Compensate: func(ctx context.Context, s *OrderState) error {
				fmt.Println("payment", s.PaymentID, "cancelled")
				return nil
			},
			Wait: &saga.Wait[OrderState]{
				Signal: true,
				For:    15 * time.Minute, // then the saga compensates: ErrWaitTimeout
				Key:    func(s *OrderState) string { return s.PaymentID },
				OnSignal: func(_ context.Context, s *OrderState, sig saga.Signal) error {
					if sig.Type == "payment.failed" {
						return errors.New("payment failed") // compensates
					}
					return nil
				},
			},
		},
		saga.Step[OrderState]{Name: "confirm", Execute: func(ctx context.Context, s *OrderState) error {
			fmt.Println("order", s.OrderID, "confirmed")
			return nil
		}},
	)
	_ = orchestrator.Register(checkout)
	// In production, also: go orchestrator.RunTimers(ctx), for the timeouts.

	_, err := checkout.Run(ctx, orchestrator, OrderState{OrderID: "o-7"}, saga.WithID("o-7"))
	fmt.Println("parked:", errors.Is(err, saga.ErrWaiting))

	// The webhook handler:
	webhook := func(paymentID, event string) {
		err := orchestrator.Signal(ctx, paymentID, event, nil)
		switch {
		case err == nil:
			fmt.Println(event, "accepted")
		case errors.Is(err, saga.ErrSagaFinished):
			fmt.Println(event, "acknowledged: the saga is done with it")
		default:
			fmt.Println(event, "to retry:", err)
		}
	}
	webhook("pi_o-7", "payment.succeeded")
	webhook("pi_o-7", "payment.succeeded")
	// Output:
	// parked: true
	// order o-7 confirmed
	// payment.succeeded accepted
	// payment.succeeded acknowledged: the saga is done with it
}
