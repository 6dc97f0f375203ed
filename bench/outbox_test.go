package bench

// Transactional outbox: how many events per second commit (a business row
// plus its event in one transaction) and relay (select, publish, mark sent),
// and the end-to-end latency from commit to handler, on SQLite (a file,
// synchronous=FULL) and PostgreSQL (a fresh schema). The relay publishes
// into microkit's memory bus so that the database is what is measured. See
// docs/benchmarks.md.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/eventbus/outbox/pgnotify"
	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/go-microkit/microkit/sqldialect"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// outboxDB is a migrated database with an orders table.
type outboxDB struct {
	db      *sql.DB
	dialect sqldialect.Dialect
}

var outboxBackends = []struct {
	name string
	open func(b *testing.B) outboxDB
}{
	{"sqlite", func(b *testing.B) outboxDB {
		db, err := sql.Open("sqlite", sqldialect.SQLiteDSN(filepath.Join(b.TempDir(), "outbox.db")))
		if err != nil {
			b.Fatal(err)
		}
		return migrateOutbox(b, db, sqldialect.SQLite)
	}},
	{"postgres", func(b *testing.B) outboxDB {
		return migrateOutbox(b, postgresSchema(b, "bench_outbox"), sqldialect.Postgres)
	}},
}

// postgresSchema returns a pool on a new schema of the database at
// MICROKIT_POSTGRES_URL (its search_path), dropped when the benchmark
// ends.
func postgresSchema(b *testing.B, prefix string) *sql.DB {
	base := testenv.Addr(b, "MICROKIT_POSTGRES_URL")
	schema := prefix + "_" + strings.ToLower(rand.Text()[:10])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		_ = admin.Close()
	})
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		b.Fatal(err)
	}
	return db
}

func migrateOutbox(b *testing.B, db *sql.DB, d sqldialect.Dialect) outboxDB {
	b.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	if err := outbox.Migrate(ctx, db, d); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	return outboxDB{db: db, dialect: d}
}

// commitOrders saves n orders, each with its OrderCreated event, in one
// transaction.
func commitOrders(ctx context.Context, db *sql.DB, n int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	msgs := make([]*eventbus.Message, n)
	for i := range msgs {
		id := eventbus.NewID()
		if _, err := tx.ExecContext(ctx, "INSERT INTO orders (id, total) VALUES ($1, $2)", id, 1250); err != nil {
			return err
		}
		msgs[i] = &eventbus.Message{ID: eventbus.NewID(), Type: "order.created", Subject: id, Time: time.Now(),
			DataContentType: eventbus.JSONContentType, Data: busPayload}
	}
	if err := outbox.Add(ctx, tx, msgs...); err != nil {
		return err
	}
	return tx.Commit()
}

// BenchmarkOutboxCommit: one transaction per op with one order and its
// event (a "create order" handler), and with 10 of each.
func BenchmarkOutboxCommit(b *testing.B) {
	for _, be := range outboxBackends {
		for _, per := range []int{1, 10} {
			b.Run(fmt.Sprintf("%s/events=%d", be.name, per), func(b *testing.B) {
				d := be.open(b)
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if err := commitOrders(ctx, d.db, per); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkOutboxRelay: b.N events wait in the outbox; the relay publishes
// them in batches of 100 and marks them sent.
func BenchmarkOutboxRelay(b *testing.B) {
	for _, be := range outboxBackends {
		b.Run(be.name, func(b *testing.B) {
			d := be.open(b)
			ctx := context.Background()
			for left := b.N; left > 0; left -= 1000 {
				if err := commitOrders(ctx, d.db, min(left, 1000)); err != nil {
					b.Fatal(err)
				}
			}
			bus, _ := memory.New()
			defer bus.Close(context.Background())
			relay, err := outbox.NewRelay(d.db, d.dialect, bus, outbox.WithBatchSize(100), outbox.WithLogger(quietSlog()))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			relayed := 0
			for relayed < b.N {
				n, err := relay.RelayOnce(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					b.Fatalf("relayed %d of %d", relayed, b.N)
				}
				relayed += n
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkOutboxEndToEnd: per op, commit one order with its event and
// wait until a router's handler got it. The relay runs with a one-second
// poll interval and is woken by outbox.Signal (SQLite) or LISTEN/NOTIFY
// (PostgreSQL: a pgnotify.Notifier after the commit, a pgnotify.Listener). Reports the p50 and p99 commit-to-handler latency.
func BenchmarkOutboxEndToEnd(b *testing.B) {
	for _, be := range outboxBackends {
		b.Run(be.name, func(b *testing.B) {
			d := be.open(b)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			bus, _ := memory.New()
			defer bus.Close(context.Background())
			got := make(chan time.Time, 1)
			r, err := eventbus.NewRouter(bus, "bench", eventbus.WithLogger(quietSlog()))
			if err != nil {
				b.Fatal(err)
			}
			if err := r.Handle("order.created", func(context.Context, *eventbus.Message) error {
				got <- time.Now()
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			if err := r.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer r.Close(context.Background())
			var (
				waker  outbox.Waker
				notify = func() {}
			)
			if d.dialect == sqldialect.Postgres {
				l := pgnotify.New(d.db, outbox.DefaultTable)
				defer l.Close(context.Background())
				n := pgnotify.NewNotifier(d.db, outbox.DefaultTable)
				defer n.Close(context.Background())
				waker, notify = l, n.Notify
			} else {
				s := outbox.NewSignal()
				waker, notify = s, s.Notify
			}
			relay, err := outbox.NewRelay(d.db, d.dialect, bus, outbox.WithWaker(waker),
				outbox.WithPollInterval(time.Second), outbox.WithLogger(quietSlog()))
			if err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			wg.Go(func() { _ = relay.Run(ctx) })
			defer wg.Wait()
			defer cancel()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if err := commitOrders(ctx, d.db, 1); err != nil {
					b.Fatal(err)
				}
				notify()
				lat = append(lat, (<-got).Sub(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
