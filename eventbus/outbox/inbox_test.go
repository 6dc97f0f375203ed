package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// TestInboxDeliveredTwiceChangesOnce: the same message handled twice (one
// after the other, then concurrently) changes the database once; a failed
// handler leaves no mark, so the redelivery does the work.
func TestInboxDeliveredTwiceChangesOnce(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			if _, err := d.db.ExecContext(ctx, "CREATE TABLE ledger (order_id TEXT NOT NULL, amount INTEGER NOT NULL)"); err != nil {
				t.Fatal(err)
			}
			in := newInbox(t, d)
			failNext := true
			var mu sync.Mutex
			h := in.Handler("billing", func(ctx context.Context, tx *sql.Tx, msg *eventbus.Message) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO ledger (order_id, amount) VALUES ($1, 1250)", msg.Subject); err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				if failNext {
					failNext = false
					return errors.New("card processor down")
				}
				return nil
			})
			msg := orderCreated(t, "order-1", 1)
			if err := h(ctx, msg); err == nil {
				t.Fatal("first delivery: handler error not returned")
			}
			if n := d.count(t, "SELECT count(*) FROM ledger"); n != 0 {
				t.Fatalf("failed handler left %d ledger rows, want its change rolled back", n)
			}
			for range 2 {
				if err := h(ctx, msg); err != nil {
					t.Fatal(err)
				}
			}
			if n := d.count(t, "SELECT count(*) FROM ledger WHERE order_id = 'order-1'"); n != 1 {
				t.Fatalf("message delivered twice changed the ledger %d times, want once", n)
			}
			// Concurrent duplicates of another message: still one change.
			other := orderCreated(t, "order-2", 1)
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for range 4 {
				wg.Go(func() { errs <- h(ctx, other) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if n := d.count(t, "SELECT count(*) FROM ledger WHERE order_id = 'order-2'"); n != 1 {
				t.Fatalf("concurrent duplicates changed the ledger %d times, want once", n)
			}
			// Another consumer of the same message has its own mark.
			ran, err := in.Process(ctx, "shipping", msg, func(context.Context, *sql.Tx, *eventbus.Message) error { return nil })
			if err != nil || !ran {
				t.Fatalf("other consumer: Process = %v, %v; want it to run", ran, err)
			}
		})
	}
}

// TestInboxPrune deletes marks older than the retention; a mark is made
// older by moving its processed time back in the table.
func TestInboxPrune(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			in := newInbox(t, d)
			nop := func(context.Context, *sql.Tx, *eventbus.Message) error { return nil }
			old := orderCreated(t, "a", 1)
			if _, err := in.Process(ctx, "c", old, nop); err != nil {
				t.Fatal(err)
			}
			d.age(t, "UPDATE microkit_inbox SET processed_at = processed_at - $1 WHERE id = '"+old.ID+"'", 48*time.Hour)
			if _, err := in.Process(ctx, "c", orderCreated(t, "b", 1), nop); err != nil {
				t.Fatal(err)
			}
			if n, err := in.Prune(ctx, 24*time.Hour); err != nil || n != 1 {
				t.Fatalf("Prune = %d, %v; want 1", n, err)
			}
		})
	}
}
