package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/sqldialect"
)

// BenchmarkInboxProcess measures deliveries per second through
// Inbox.Process with 16 callers at once (a router with WithConcurrency(16)),
// each handler writing one row, with a transaction per delivery and with
// group commit; tx/msg is the transactions per delivery.
func BenchmarkInboxProcess(b *testing.B) {
	const callers = 16
	for _, be := range backends {
		for _, mode := range []struct {
			name string
			opts []outbox.Option
		}{
			{"tx-per-delivery", nil},
			{"group-commit", []outbox.Option{outbox.WithGroupCommit(64)}},
		} {
			b.Run(be.Name+"/"+mode.name, func(b *testing.B) {
				d := be.Open(b)
				ctx := context.Background()
				if _, err := d.db.ExecContext(ctx, "CREATE TABLE ledger (msg_id TEXT NOT NULL, subject TEXT NOT NULL)"); err != nil {
					b.Fatal(err)
				}
				sqldialect.SetPoolSize(d.db, callers+1)
				var batches, batchNanos atomic.Int64
				count := outbox.ListenerFunc(func(_ context.Context, e outbox.Event) {
					if e.Kind == outbox.EventInboxBatch {
						batches.Add(1)
						batchNanos.Add(int64(e.Duration))
					}
				})
				in, err := outbox.NewInbox(d.db, d.dialect, append(mode.opts, outbox.WithListener(count))...)
				if err != nil {
					b.Fatal(err)
				}
				msgs := make([]*eventbus.Message, b.N)
				for i := range msgs {
					msgs[i] = &eventbus.Message{ID: fmt.Sprint("bench-", i), Type: "order.created", Subject: "o"}
				}
				h := func(ctx context.Context, tx *sql.Tx, msg *eventbus.Message) error {
					_, err := tx.ExecContext(ctx, "INSERT INTO ledger (msg_id, subject) VALUES ($1, $2)", msg.ID, msg.Subject)
					return err
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ReportAllocs()
				b.ResetTimer()
				for range callers {
					wg.Go(func() {
						for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
							if _, err := in.Process(ctx, "billing", msgs[i], h); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				tx := float64(b.N)
				if n := batches.Load(); n > 0 {
					tx = float64(n)
					b.ReportMetric(float64(batchNanos.Load())/1e3/float64(n), "µs/batch")
				}
				b.ReportMetric(tx/float64(b.N), "tx/msg")
			})
		}
	}
}
