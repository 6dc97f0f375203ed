package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/sqldialect"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newRelay(t testing.TB, d *database, pub eventbus.Publisher, opts ...outbox.Option) *outbox.Relay {
	t.Helper()
	opts = append([]outbox.Option{outbox.WithLogger(quiet())}, opts...)
	r, err := outbox.NewRelay(d.db, d.dialect, pub, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCommitRelaysRollbackDoesNot: events added in a committed transaction
// are published once, in order per subject, with their envelope intact;
// events of a rolled-back transaction never are.
func TestCommitRelaysRollbackDoesNot(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			bus := newBus(t)
			got := collect(t, bus, "order.>")

			var want []string
			for i := range 3 {
				id := fmt.Sprint("order-", i)
				e1, e2 := orderCreated(t, id, 1), orderCreated(t, id, 2)
				e2.Type = "order.paid"
				e1.Metadata = map[string]string{"traceparent": "00-abc"}
				if err := createOrder(ctx, d.db, id, e1, e2); err != nil {
					t.Fatal(err)
				}
				want = append(want, e1.ID, e2.ID)
			}
			// A transaction that rolls back leaves no event behind.
			tx, err := d.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := outbox.Add(ctx, tx, orderCreated(t, "ghost", 1)); err != nil {
				t.Fatal(err)
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}

			r := newRelay(t, d, bus)
			n, err := r.RelayOnce(ctx)
			if err != nil || n != 6 {
				t.Fatalf("RelayOnce = %d, %v; want 6 events", n, err)
			}
			if n, err := r.RelayOnce(ctx); err != nil || n != 0 {
				t.Fatalf("second RelayOnce = %d, %v; want nothing left", n, err)
			}
			got.waitFor(t, 6)
			got.exactlyOnce(t, want)
			got.mu.Lock()
			defer got.mu.Unlock()
			for i := range 3 {
				subject := fmt.Sprint("order-", i)
				if o := got.order[subject]; !slices.Equal(o, want[2*i:2*i+2]) {
					t.Errorf("subject %s published in order %v, want %v", subject, o, want[2*i:2*i+2])
				}
			}
			if n := d.count(t, "SELECT count(*) FROM microkit_outbox WHERE sent_at IS NULL"); n != 0 {
				t.Errorf("%d events left unsent", n)
			}
		})
	}
}

// TestFailedPublishStaysUnsent: a publish that fails leaves the events
// unsent, counts the attempt and records the error; the next round with a
// working broker publishes them.
func TestFailedPublishStaysUnsent(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			e := orderCreated(t, "order-1", 1)
			if err := createOrder(ctx, d.db, "order-1", e); err != nil {
				t.Fatal(err)
			}
			down := newBus(t)
			_ = down.Close(context.Background()) // a broker that refuses every publish
			if n, err := newRelay(t, d, down).RelayOnce(ctx); !errors.Is(err, eventbus.ErrClosed) || n != 0 {
				t.Fatalf("RelayOnce on a closed bus = %d, %v; want 0, ErrClosed", n, err)
			}
			var (
				attempts int
				lastErr  string
			)
			if err := d.db.QueryRowContext(ctx, "SELECT attempts, last_error FROM microkit_outbox WHERE sent_at IS NULL").Scan(&attempts, &lastErr); err != nil {
				t.Fatalf("the event is not unsent any more: %v", err)
			}
			if attempts != 1 || lastErr == "" {
				t.Fatalf("attempts %d, last error %q; want 1 and the publish error", attempts, lastErr)
			}
			up := newBus(t)
			got := collect(t, up, "order.>")
			if n, err := newRelay(t, d, up).RelayOnce(ctx); err != nil || n != 1 {
				t.Fatalf("RelayOnce = %d, %v; want the event published", n, err)
			}
			got.waitFor(t, 1)
			got.exactlyOnce(t, []string{e.ID})
		})
	}
}

// TestPrune: the relay deletes sent events older than the retention, and
// nothing unsent. An event is made older by moving its sent time back in
// the table.
func TestPrune(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			bus := newBus(t)
			collect(t, bus, "order.>")
			r := newRelay(t, d, bus, outbox.WithRetention(time.Hour, time.Minute))
			if err := createOrder(ctx, d.db, "old", orderCreated(t, "old", 1)); err != nil {
				t.Fatal(err)
			}
			if _, err := r.RelayOnce(ctx); err != nil {
				t.Fatal(err)
			}
			d.age(t, "UPDATE microkit_outbox SET sent_at = sent_at - $1 WHERE subject = 'old'", 2*time.Hour)
			if err := createOrder(ctx, d.db, "new", orderCreated(t, "new", 1)); err != nil {
				t.Fatal(err)
			}
			if _, err := r.RelayOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if err := createOrder(ctx, d.db, "unsent", orderCreated(t, "unsent", 1)); err != nil {
				t.Fatal(err)
			}
			n, err := r.Prune(ctx)
			if err != nil || n != 1 {
				t.Fatalf("Prune = %d, %v; want the one event sent two hours ago", n, err)
			}
			if left := d.count(t, "SELECT count(*) FROM microkit_outbox"); left != 2 {
				t.Fatalf("%d events left, want 2 (one sent recently, one unsent)", left)
			}
		})
	}
}

// TestRunPrunesOnSchedule runs the relay in a testing/synctest bubble on
// SQLite: a sent event stays for the retention period and is pruned by a
// scheduled prune soon after it, with no call to Prune.
func TestRunPrunesOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		d := openSQLite(t)
		if err := createOrder(ctx, d.db, "o-1", orderCreated(t, "o-1", 1)); err != nil {
			t.Fatal(err)
		}
		pub := &flakyPublisher{}
		r := newRelay(t, d, pub, outbox.WithPollInterval(10*time.Second), outbox.WithRetention(time.Hour, time.Minute))
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		synctest.Wait()
		if sent := d.count(t, "SELECT count(*) FROM microkit_outbox WHERE sent_at IS NOT NULL"); sent != 1 {
			t.Fatalf("%d events sent, want 1", sent)
		}
		time.Sleep(59 * time.Minute)
		synctest.Wait()
		if left := d.count(t, "SELECT count(*) FROM microkit_outbox"); left != 1 {
			t.Fatalf("%d events left within the retention, want 1", left)
		}
		time.Sleep(3 * time.Minute) // the retention and a prune interval after it
		synctest.Wait()
		if left := d.count(t, "SELECT count(*) FROM microkit_outbox"); left != 0 {
			t.Fatalf("%d events left after the retention, want 0", left)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

// TestRunRelaysAndStops: Run publishes what is added while it runs and
// returns when its context ends.
func TestRunRelaysAndStops(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			d := be.Open(t)
			bus := newBus(t)
			got := collect(t, bus, "order.>")
			r := newRelay(t, d, bus, outbox.WithPollInterval(10*time.Millisecond), outbox.WithBatchSize(7))
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			var ids []string
			for i := range 30 {
				e := orderCreated(t, fmt.Sprint("order-", i), i)
				ids = append(ids, e.ID)
				if err := createOrder(ctx, d.db, e.Subject, e); err != nil {
					t.Fatal(err)
				}
			}
			got.waitFor(t, len(ids))
			if err := r.Run(ctx); !errors.Is(err, outbox.ErrRunning) {
				t.Errorf("second Run = %v, want ErrRunning", err)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run = %v", err)
			}
			got.exactlyOnce(t, ids)
		})
	}
}

func TestInvalidOptions(t *testing.T) {
	for name, opt := range map[string]outbox.Option{
		"table with space":  outbox.WithTable("bad table"),
		"upper case":        outbox.WithInboxTable("Inbox"),
		"zero batch":        outbox.WithBatchSize(0),
		"zero poll":         outbox.WithPollInterval(0),
		"zero backoff":      outbox.WithMaxBackoff(0),
		"zero publish wait": outbox.WithPublishTimeout(0),
		"negative keep":     outbox.WithRetention(-time.Second, time.Minute),
		"negative interval": outbox.WithRetention(time.Hour, -time.Second),
	} {
		_, err := outbox.New(opt)
		if !errors.Is(err, outbox.ErrInvalidOption) || !errors.Is(err, eventbus.ErrInvalidOption) {
			t.Errorf("%s: New error %v, want outbox's and eventbus's ErrInvalidOption", name, err)
		}
	}
	// A nil argument means the default.
	if _, err := outbox.New(outbox.WithLogger(nil), outbox.WithWaker(nil)); err != nil {
		t.Errorf("New(WithLogger(nil), WithWaker(nil)) = %v, want the defaults", err)
	}
	if _, err := outbox.NewRelay(nil, sqldialect.SQLite, nil); !errors.Is(err, outbox.ErrInvalidOption) {
		t.Errorf("NewRelay(nil) error %v, want ErrInvalidOption", err)
	}
	if err := outbox.Migrate(context.Background(), nil, sqldialect.Dialect(9)); !errors.Is(err, outbox.ErrInvalidOption) {
		t.Errorf("Migrate(unknown dialect) error %v, want ErrInvalidOption", err)
	}
}
