package outbox_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
)

// TestInboxHandlerPerHandler: two handlers of one consumer group that
// match one message ("order.>" and "order.created") each handle it once;
// a redelivery to either is skipped.
func TestInboxHandlerPerHandler(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			d := be.Open(t)
			in := newInbox(t, d)
			runs := map[string]int{}
			h := in.Handler("billing", func(ctx context.Context, _ *sql.Tx, _ *eventbus.Message) error {
				info, _ := eventbus.DeliveryFromContext(ctx)
				runs[info.Handler]++
				return nil
			})
			msg := orderCreated(t, "order-1", 1)
			for range 2 { // a delivery, then its redelivery
				for _, name := range []string{"order.>", "order.created"} {
					ctx := eventbus.ContextWithDelivery(context.Background(), &eventbus.DeliveryInfo{
						Group: "billing", Pattern: name, Handler: name, Attempt: 1, Message: msg,
					})
					if err := h(ctx, msg); err != nil {
						t.Fatal(err)
					}
				}
			}
			if runs["order.>"] != 1 || runs["order.created"] != 1 {
				t.Fatalf("runs per handler = %v, want each handler once", runs)
			}
		})
	}
}
