package saga_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-microkit/microkit/saga"
)

// OrderState is what the create-order saga's steps read and write; it is
// persisted as JSON after every step.
type OrderState struct {
	OrderID   string `json:"order_id"`
	Amount    int    `json:"amount"`
	PaymentID string `json:"payment_id,omitempty"`
}

// A create-order saga: create the order, reserve stock, charge the card,
// confirm. Here the card is declined, so the reservation is released and
// the order cancelled, in reverse order.
func Example() {
	createOrder := saga.Step[OrderState]{
		Name: "create-order",
		Execute: func(ctx context.Context, s *OrderState) error {
			fmt.Println("order", s.OrderID, "created as pending")
			return nil
		},
		Compensate: func(ctx context.Context, s *OrderState) error {
			fmt.Println("order", s.OrderID, "cancelled")
			return nil
		},
	}
	reserveStock := saga.Step[OrderState]{
		Name: "reserve-stock",
		Execute: func(ctx context.Context, s *OrderState) error {
			key, _ := saga.IdempotencyKeyFromContext(ctx) // the inventory service dedupes on it
			fmt.Println("stock reserved with key", key)
			return nil
		},
		Compensate: func(ctx context.Context, s *OrderState) error {
			fmt.Println("stock released")
			return nil
		},
	}
	chargeCard := saga.Step[OrderState]{
		Name: "charge-card",
		Execute: func(ctx context.Context, s *OrderState) error {
			// A decline is the payment service's definitive answer: nothing
			// was charged, so there is nothing to refund and no point
			// retrying. A timeout would prove nothing: the refund would run.
			return saga.NotApplied(errors.New("card declined"))
		},
		Compensate: func(ctx context.Context, s *OrderState) error {
			fmt.Println("refunded", s.PaymentID)
			return nil
		},
	}
	confirm := saga.Step[OrderState]{
		Name:    "confirm-order",
		Execute: func(ctx context.Context, s *OrderState) error { return nil },
	}
	createOrderSaga, err := saga.New("create-order", createOrder, reserveStock, chargeCard, confirm)
	if err != nil {
		panic(err)
	}

	orchestrator, err := saga.NewOrchestrator(saga.NewMemoryStore())
	if err != nil {
		panic(err)
	}
	defer orchestrator.Close(context.Background())
	// Register every saga at start-up: Run starts only registered sagas,
	// and Recover continues only theirs after a crash.
	if err := orchestrator.Register(createOrderSaga); err != nil {
		panic(err)
	}

	_, err = createOrderSaga.Run(context.Background(), orchestrator,
		OrderState{OrderID: "o-42", Amount: 1999}, saga.WithID("o-42"))
	fmt.Println(errors.Is(err, saga.ErrCompensated), err)
	// Output:
	// order o-42 created as pending
	// stock reserved with key o-42/reserve-stock
	// stock released
	// order o-42 cancelled
	// true saga: create-order o-42 compensated after step charge-card failed: card declined
}
