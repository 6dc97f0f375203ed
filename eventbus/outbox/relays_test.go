package outbox_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/outbox"
)

// TestTwoRelaysPublishOnce: two relays on one PostgreSQL database, running
// while events are added, publish each event once and each subject's events
// in order. Each subject also has an event scheduled 100ms ahead, which
// is published once and does not disturb the order of the others, and one
// scheduled an hour ahead, which holds nothing back and stays unsent.
func TestTwoRelaysPublishOnce(t *testing.T) {
	d := openPostgres(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bus := newBus(t)
	got := collect(t, bus, "order.>")
	var wg sync.WaitGroup
	for range 2 {
		r := newRelay(t, d, bus, outbox.WithBatchSize(16), outbox.WithPollInterval(5*time.Millisecond))
		wg.Go(func() { _ = r.Run(ctx) })
	}
	const orders, perOrder = 40, 5
	want := map[string][]string{}
	var all []string
	var adders sync.WaitGroup
	for w := range 4 {
		adders.Go(func() {
			for i := w; i < orders; i += 4 {
				id := fmt.Sprint("order-", i)
				for j := range perOrder {
					e := orderCreated(t, id, j)
					tx, err := d.db.BeginTx(ctx, nil)
					if err != nil {
						t.Error(err)
						return
					}
					if err := outbox.Add(ctx, tx, e); err != nil {
						t.Error(err)
						return
					}
					if err := tx.Commit(); err != nil {
						t.Error(err)
						return
					}
					got.mu.Lock() // guards want and all too
					want[id] = append(want[id], e.ID)
					all = append(all, e.ID)
					got.mu.Unlock()
				}
				soon, far := orderCreated(t, id, perOrder), orderCreated(t, id, perOrder+1)
				schedule(t, d.db, time.Now().Add(100*time.Millisecond), soon)
				schedule(t, d.db, time.Now().Add(time.Hour), far)
				got.mu.Lock()
				all = append(all, soon.ID)
				got.mu.Unlock()
			}
		})
	}
	adders.Wait()
	got.waitFor(t, orders*(perOrder+1))
	cancel()
	wg.Wait()
	got.exactlyOnce(t, all)
	// (A publish cut short by cancel may leave its events published and
	// unmarked: count only those scheduled ahead.)
	if n := d.count(t, "SELECT count(*) FROM microkit_outbox WHERE sent_at IS NULL AND due_at > $1", time.Now().Add(time.Minute).UnixNano()); n != orders {
		t.Errorf("%d events scheduled an hour ahead unsent, want %d", n, orders)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	for id, w := range want {
		// The order of the unscheduled events; where the one scheduled
		// soon falls among them depends on how fast they were added.
		o := slices.DeleteFunc(slices.Clone(got.order[id]), func(m string) bool { return !slices.Contains(w, m) })
		if !slices.Equal(o, w) {
			t.Errorf("subject %s published in order %v, want %v", id, o, w)
		}
	}
}

// TestOneRelayPublishesAtATime: while another relay's round holds the
// table's relay lock, a relay publishes nothing (interleaved rounds could
// put one subject's events out of order), and it takes over as soon as the
// lock is free.
func TestOneRelayPublishesAtATime(t *testing.T) {
	d := openPostgres(t)
	ctx := context.Background()
	bus := newBus(t)
	got := collect(t, bus, "order.>")
	r := newRelay(t, d, bus)
	if err := createOrder(ctx, d.db, "order-1", orderCreated(t, "order-1", 0)); err != nil {
		t.Fatal(err)
	}
	other, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Rollback() }()
	if _, err := other.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('microkit.outbox.relay'), hashtext(current_schema() || '.' || $1))", outbox.DefaultTable); err != nil {
		t.Fatal(err)
	}
	if n, err := r.RelayOnce(ctx); n != 0 || err != nil {
		t.Fatalf("RelayOnce while another relay is active = %d, %v; want 0, nil", n, err)
	}
	if err := other.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n, err := r.RelayOnce(ctx); n != 1 || err != nil {
		t.Fatalf("RelayOnce once the other relay stopped = %d, %v; want 1, nil", n, err)
	}
	got.waitFor(t, 1)
}
