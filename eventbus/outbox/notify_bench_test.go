package outbox_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/eventbus/outbox/pgnotify"
	"github.com/go-microkit/microkit/sqldialect"
	"github.com/jackc/pgx/v5"
)

// BenchmarkCommitNotify measures the commits per second of 8 producers on
// PostgreSQL, each committing transactions that add one event, as a relay
// in another process learns of them: with the trigger of
// WithNotifyTrigger (a NOTIFY in each transaction), with a
// pgnotify.Notifier's Notify after each commit, and with neither (the
// cost of the commits alone, the relays left to their polls). A LISTEN
// connection, as a relay's Listener, counts the notifications per commit.
func BenchmarkCommitNotify(b *testing.B) {
	const producers = 8
	for _, mode := range []string{"trigger", "notifier", "none"} {
		b.Run(mode, func(b *testing.B) {
			d := openPostgres(b)
			ctx := context.Background()
			if mode == "trigger" {
				if err := outbox.Migrate(ctx, d.db, d.dialect, outbox.WithNotifyTrigger()); err != nil {
					b.Fatal(err)
				}
			}
			// The producers' connections, and the Notifier's.
			sqldialect.SetPoolSize(d.db, producers+1)
			heard := listen(b, d.dsn)
			notify, closeNotifier := func() {}, func() {}
			if mode == "notifier" {
				n := pgnotify.NewNotifier(d.db, outbox.DefaultTable, pgnotify.WithLogger(slog.New(slog.DiscardHandler)))
				notify = n.Notify
				closeNotifier = func() {
					if err := n.Close(ctx); err != nil {
						b.Error(err)
					}
				}
			}
			msg, err := eventbus.NewMessage("order.created", map[string]string{"orderId": "o-1"})
			if err != nil {
				b.Fatal(err)
			}
			commit := func() error {
				tx, err := d.db.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer func() { _ = tx.Rollback() }()
				if err := outbox.Add(ctx, tx, msg); err != nil {
					return err
				}
				if err := tx.Commit(); err != nil {
					return err
				}
				notify()
				return nil
			}
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ResetTimer()
			for range producers {
				wg.Go(func() {
					for left.Add(-1) >= 0 {
						if err := commit(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			closeNotifier() // its last notification sent
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
			b.ReportMetric(float64(heard())/float64(b.N), "notifies/commit")
		})
	}
}

// listen LISTENs on the default outbox table's channel of the database at
// dsn, and returns a function that counts the notifications committed
// since: it sends a marker on a channel of its own and counts what
// arrives before it, a session receiving the notifications of its
// channels in the order their transactions committed.
func listen(b *testing.B, dsn string) (heard func() int) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close(ctx) })
	const marker = "bench_marker"
	if _, err := conn.Exec(ctx, "LISTEN "+outbox.DefaultTable+"; LISTEN "+marker); err != nil {
		b.Fatal(err)
	}
	return func() int {
		wait, cancel := context.WithTimeout(ctx, time.Minute) // a deadlock guard
		defer cancel()
		if _, err := conn.Exec(wait, "NOTIFY "+marker); err != nil {
			b.Fatal(err)
		}
		for n := 0; ; n++ {
			m, err := conn.WaitForNotification(wait)
			if err != nil {
				b.Fatalf("after %d notifications: %v", n, err)
			}
			if m.Channel == marker {
				return n
			}
		}
	}
}
