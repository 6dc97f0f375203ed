package outbox_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/outbox"
)

// TestSignalWakesRelay: a relay polling once an hour publishes an event as
// soon as the producer notifies the signal after its commit.
func TestSignalWakesRelay(t *testing.T) {
	d := openSQLite(t)
	bus := newBus(t)
	got := collect(t, bus, "order.>")
	sig := outbox.NewSignal()
	r := newRelay(t, d, bus, outbox.WithWaker(sig), outbox.WithPollInterval(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	var ids []string
	for i := range 3 {
		e := orderCreated(t, "order-1", i)
		ids = append(ids, e.ID)
		if err := createOrder(ctx, d.db, e.ID, e); err != nil {
			t.Fatal(err)
		}
		sig.Notify()
		got.waitFor(t, i+1) // only the signal can wake it within the hour
	}
	got.exactlyOnce(t, ids)
	// Notifications coalesce and never block; a cancelled Wait returns.
	sig.Notify()
	sig.Notify()
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := outbox.NewSignal().Wait(cctx); err == nil {
		t.Fatal("Wait with a cancelled context returned nil")
	}
}
