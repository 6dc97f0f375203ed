package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
	"github.com/go-microkit/microkit/eventbus/outbox"
)

// natsBilling starts an embedded NATS server and returns it with a bus on
// it (with opts) and the "billing" group's subscription to "order.>", all
// closed when the test ends.
func natsBilling(t *testing.T, opts ...natsbus.Option) (*natstest.Server, *natsbus.Bus, eventbus.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := natstest.Run(t)
	bus, err := natsbus.Connect(ctx, srv.URL(), append([]natsbus.Option{natsbus.WithLogger(quiet())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close(context.Background()) })
	sub, err := bus.Subscribe(ctx, "billing", "order.>")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return srv, bus, sub
}

// TestBrokerDownRoundTimesOut: with the broker down, a publisher that
// retries until its context ends (natsbus) would hold the relay's round;
// the publish timeout ends it, the event stays unsent with the failure
// recorded, and once the broker is back the next round publishes it.
func TestBrokerDownRoundTimesOut(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			srv, bus, sub := natsBilling(t)

			d := be.Open(t)
			e := orderCreated(t, "order-1", 1)
			if err := createOrder(ctx, d.db, "order-1", e); err != nil {
				t.Fatal(err)
			}
			srv.Shutdown()
			r := newRelay(t, d, bus, outbox.WithPublishTimeout(200*time.Millisecond))
			if n, err := r.RelayOnce(ctx); !errors.Is(err, context.DeadlineExceeded) || n != 0 {
				t.Fatalf("RelayOnce with the broker down = %d, %v; want 0 and a deadline error", n, err)
			}
			if n := d.count(t, "SELECT count(*) FROM microkit_outbox WHERE sent_at IS NULL AND attempts = 1"); n != 1 {
				t.Fatalf("%d unsent events with one failed attempt, want 1", n)
			}
			srv.Restart(t)
			if n, err := r.RelayOnce(ctx); err != nil || n != 1 {
				t.Fatalf("RelayOnce after the restart = %d, %v; want 1", n, err)
			}
			dl, err := sub.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if dl.Message().ID != e.ID {
				t.Fatalf("got %s, want %s", dl.Message().ID, e.ID)
			}
			_ = dl.Ack(ctx)
		})
	}
}
