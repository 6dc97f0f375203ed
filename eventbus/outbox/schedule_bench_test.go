package outbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/sqldialect"
)

// BenchmarkRelayScheduled measures the relay's throughput (an op is one
// event relayed: RelayOnce in batches of 100 through a publisher that
// does nothing, until none is due) with only due events in the outbox,
// and with 100,000 events scheduled a day ahead added before them, so
// that they come first in the order of addition: the relay's query reads
// the index on (due_at, seq) from its start, so the rows that are not
// due are never read, and the two figures should match. Half of the due
// events were added with Add, half with AddAt at a time already past.
//
//	go test -run '^$' -bench RelayScheduled -benchtime 20000x -count 6 ./eventbus/outbox/
func BenchmarkRelayScheduled(b *testing.B) {
	for _, be := range backends {
		for _, future := range []int{0, 100_000} {
			b.Run(fmt.Sprintf("%s/future=%d", be.Name, future), func(b *testing.B) {
				d := be.Open(b)
				ctx := context.Background()
				addMany(b, d, future, time.Now().Add(24*time.Hour))
				addMany(b, d, b.N/2, time.Time{})
				addMany(b, d, b.N-b.N/2, time.Now().Add(-time.Minute))
				// What the database would do soon on its own: write SQLite's
				// WAL back, and gather PostgreSQL's statistics (autovacuum),
				// not to time it as the relay's.
				settle := "PRAGMA wal_checkpoint(TRUNCATE)"
				if d.dialect == sqldialect.Postgres {
					settle = "ANALYZE " + outbox.DefaultTable
				}
				if _, err := d.db.ExecContext(ctx, settle); err != nil {
					b.Fatal(err)
				}
				r := newRelay(b, d, nopPublisher{}, outbox.WithBatchSize(100))
				b.ReportAllocs()
				b.ResetTimer()
				relayed := 0
				for relayed < b.N {
					n, err := r.RelayOnce(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if n == 0 {
						b.Fatalf("relayed %d of %d", relayed, b.N)
					}
					relayed += n
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
				b.StopTimer()
				if left := d.backlog(b); left.Pending != 0 || left.Scheduled != int64(future) {
					b.Fatalf("backlog after the run: %+v", left)
				}
			})
		}
	}
}

// addMany adds n events of 100 subjects, due at at (zero: with Add), in
// transactions of 1000.
func addMany(b *testing.B, d *database, n int, at time.Time) {
	b.Helper()
	for done := 0; done < n; {
		k := min(n-done, 1000)
		msgs := make([]*eventbus.Message, k)
		for i := range msgs {
			msgs[i] = &eventbus.Message{ID: eventbus.NewID(), Type: "order.created", Subject: fmt.Sprint("o-", (done+i)%100),
				Time: time.Now(), DataContentType: eventbus.JSONContentType, Data: []byte(`{"orderId":"o-1","total":1250}`)}
		}
		schedule(b, d.db, at, msgs...)
		done += k
	}
}

// nopPublisher accepts every message and does nothing with it.
type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, ...*eventbus.Message) error { return nil }
func (nopPublisher) Close(context.Context) error                         { return nil }
