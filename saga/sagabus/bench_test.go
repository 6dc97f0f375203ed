package sagabus_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/outbox/pgnotify"
	"github.com/go-microkit/microkit/eventbus/sqlbus"
	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagabus"
	"github.com/go-microkit/microkit/saga/sagatest"
	"github.com/go-microkit/microkit/saga/sqlstore"
	"github.com/go-microkit/microkit/sqldialect"
)

// wakeBus is an event bus of the benchmark: the publisher stands for the
// process that publishes the events (a payment service), the subscriber
// for the orchestrator's process; each has connections of its own.
type wakeBus struct {
	pub eventbus.Publisher
	sub eventbus.Subscriber
}

// BenchmarkWakeOverBus measures waiting sagas woken through the event
// bus, end to end, in the production shape: the sagas in saga/sqlstore on
// PostgreSQL, an eventbus.Router (8 workers) running sagabus.Handler, the
// events published by a bus of their own (another process's, in
// production) on NATS JetStream ("nats") or on PostgreSQL as the broker
// (eventbus/sqlbus with a pgnotify.Listener as its Waker, "postgres").
// b.N sagas are parked (a step, a wait for the event keyed by the saga, a
// step), then their events are published one at a time ("serial": each
// publish waits for the previous saga's next step) or all at once from 8
// goroutines ("burst"). It reports the latency from the call of Publish to
// the start of the step after the wait (p50-ms, p99-ms) and the parked
// sagas woken per second (woken/s). With 2,000 sagas:
//
//	go test -run '^$' -bench WakeOverBus -benchtime 2000x -count 3 ./saga/sagabus/
func BenchmarkWakeOverBus(b *testing.B) {
	for _, bc := range []struct {
		name string
		open func(b *testing.B, db *sql.DB, dsn, schema string) wakeBus
	}{{"nats", natsWakeBus}, {"postgres", sqlWakeBus}} {
		b.Run(bc.name, func(b *testing.B) {
			for _, mode := range []struct {
				name  string
				burst bool
			}{{"serial", false}, {"burst", true}} {
				b.Run(mode.name, func(b *testing.B) {
					db, dsn := sqltest.Open(b, sqldialect.Postgres, "sagabus_wake")
					schema := searchPath(b, db)
					res := wakeOverBus(b, db, bc.open(b, db, dsn, schema), b.N, mode.burst)
					b.ReportMetric(float64(res.Percentile(50).Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(res.Percentile(99).Microseconds())/1000, "p99-ms")
					b.ReportMetric(res.PerSecond(), "woken/s")
				})
			}
		})
	}
}

// searchPath returns the schema db's connections use: the fresh one of
// sqltest.Open, whose name is unique to the run.
func searchPath(b *testing.B, db *sql.DB) string {
	var schema string
	if err := db.QueryRowContext(context.Background(), "SELECT current_schema()").Scan(&schema); err != nil {
		b.Fatal(err)
	}
	return schema
}

// natsWakeBus returns two buses on the JetStream server at
// MICROKIT_NATS_URL, on a stream and subject prefix of their own, deleted
// when the benchmark ends.
func natsWakeBus(b *testing.B, _ *sql.DB, _, _ string) wakeBus {
	url := testenv.Addr(b, "MICROKIT_NATS_URL")
	run := "wake" + strings.ToLower(rand.Text()[:10])
	stream := strings.ToUpper(run)
	b.Cleanup(func() { deleteStream(b, url, stream) }) // after the buses' Close
	connect := func() *natsbus.Bus {
		bus, err := natsbus.Connect(context.Background(), url, natsbus.WithStream(stream),
			natsbus.WithSubjectPrefix(run), natsbus.WithLogger(quiet()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = bus.Close(context.Background()) })
		return bus
	}
	return wakeBus{pub: connect(), sub: connect()}
}

// deleteStream deletes the JetStream stream of a run from the shared
// server.
func deleteStream(b *testing.B, url, stream string) {
	nc, err := nats.Connect(url)
	if err != nil {
		b.Errorf("delete stream %s: %v", stream, err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = js.DeleteStream(ctx, stream)
	}
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		b.Errorf("delete stream %s: %v", stream, err)
	}
}

// sqlWakeBus returns two sqlbus buses on the saga's database, with the
// run's schema as their table's name, so that their NOTIFY channel is the
// run's alone: the subscriber on db with a pgnotify.Listener as its Waker,
// the publisher on a connection pool of its own.
func sqlWakeBus(b *testing.B, db *sql.DB, dsn, schema string) wakeBus {
	ctx := context.Background()
	table := sqlbus.WithTable(schema)
	if err := sqlbus.Migrate(ctx, db, sqldialect.Postgres, table); err != nil {
		b.Fatal(err)
	}
	l := pgnotify.New(db, schema)
	b.Cleanup(func() { _ = l.Close(ctx) }) // after the bus's Close
	sub, err := sqlbus.New(db, sqldialect.Postgres, table, sqlbus.WithWaker(l), sqlbus.WithLogger(quiet()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sub.Close(ctx) })
	pubDB, err := sqldb.Open(sqldialect.Postgres, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = pubDB.Close() })
	sqldialect.SetPoolSize(pubDB, 8)
	pub, err := sqlbus.New(pubDB, sqldialect.Postgres, table, sqlbus.WithLogger(quiet()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = pub.Close(ctx) })
	return wakeBus{pub: pub, sub: sub}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// wakeOverBus runs sagatest.ParkAndWakeBy with n sagas in a
// saga/sqlstore store on db, their events published on bus.pub and
// delivered by a router on bus.sub (8 workers) running sagabus.Handler:
// one at a time, or all at once from 8 goroutines with burst.
func wakeOverBus(b *testing.B, db *sql.DB, bus wakeBus, n int, burst bool) sagatest.WakeResult {
	ctx := context.Background()
	sqldialect.SetPoolSize(db, 10) // the store's 9, and the Listener's
	if err := sqlstore.Migrate(ctx, db, sqldialect.Postgres); err != nil {
		b.Fatal(err)
	}
	store, err := sqlstore.New(db, sqldialect.Postgres)
	if err != nil {
		b.Fatal(err)
	}
	w := sagatest.Wake{Concurrency: 1, Burst: burst, Idle: b.ResetTimer}
	if burst {
		w.Concurrency = 8
	}
	w.Deliver = func(o *saga.Orchestrator) func(context.Context, string) error {
		h, err := sagabus.Handler(o, sagabus.JSONKey("paymentId"), sagabus.WithLogger(quiet()))
		if err != nil {
			b.Fatal(err)
		}
		router, err := eventbus.NewRouter(bus.sub, "orders", eventbus.WithConcurrency(8), eventbus.WithLogger(quiet()))
		if err != nil {
			b.Fatal(err)
		}
		if err := router.Handle("payment.*", h); err != nil {
			b.Fatal(err)
		}
		if err := router.Start(ctx); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = router.Close(ctx) }) // before the orchestrator's Close
		return func(ctx context.Context, key string) error {
			msg, err := eventbus.NewMessage("payment.confirmed", map[string]string{"paymentId": key})
			if err != nil {
				return err
			}
			return bus.pub.Publish(ctx, msg)
		}
	}
	res := sagatest.ParkAndWakeBy(b, store, n, w)
	b.StopTimer()
	return res
}
