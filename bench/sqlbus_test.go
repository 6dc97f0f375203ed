package bench

// SQL as the broker: microkit's eventbus/sqlbus against watermill-sql
// (github.com/ThreeDotsLabs/watermill-sql/v4, its default PostgreSQL
// schema and offsets adapter) on the PostgreSQL at MICROKIT_POSTGRES_URL,
// a fresh schema per run. Both move the same 256-byte JSON payload, each
// with its own defaults (sqlbus claims 64 messages ahead, watermill-sql
// selects 100 messages per query); one goroutine consumes and acks each
// message. See docs/benchmarks.md.

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/go-microkit/microkit/eventbus/sqlbus"
	"github.com/go-microkit/microkit/sqldialect"
)

// sqlBusPublishers is how many goroutines publish at once, one message per
// call, in the concurrent publish benchmark: the requests of a service,
// each publishing its event.
const sqlBusPublishers = 8

// sqlSystem is one SQL pub/sub under test on its own schema. publish
// publishes a batch; consume starts a consumer that calls onMsg after
// acking each message, and returns its stop function.
type sqlSystem struct {
	name  string
	setup func(b *testing.B) (publish func(n int) error, consume func(onMsg func()) (stop func()))
}

var sqlSystems = []sqlSystem{
	{"sqlbus", func(b *testing.B) (func(int) error, func(func()) func()) {
		db := postgresSchema(b, "bench_sqlbus")
		sqldialect.SetPoolSize(db, sqlBusPublishers+2)
		b.Cleanup(func() { _ = db.Close() })
		ctx := context.Background()
		if err := sqlbus.Migrate(ctx, db, sqldialect.Postgres); err != nil {
			b.Fatal(err)
		}
		bus, err := sqlbus.New(db, sqldialect.Postgres, sqlbus.WithLogger(quietSlog()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = bus.Close(context.Background()) })
		// The group exists before the first publish, as it would in
		// production: its cursor waits before the benchmark's messages.
		sub, err := bus.Subscribe(ctx, "bench", "bench.event")
		if err != nil {
			b.Fatal(err)
		}
		_ = sub.Close()
		publish := func(n int) error { return bus.Publish(ctx, benchMessages("bench.event", n)...) }
		consume := func(onMsg func()) func() {
			_, stop := routerSystem(ctx, b, bus, onMsg)
			return stop
		}
		return publish, consume
	}},
	{"watermill-sql", func(b *testing.B) (func(int) error, func(func()) func()) {
		db := postgresSchema(b, "bench_wmsql")
		sqldialect.SetPoolSize(db, sqlBusPublishers+2)
		b.Cleanup(func() { _ = db.Close() })
		logger := watermill.NopLogger{}
		topic := uniq("bench_event_")
		pub, err := wmsql.NewPublisher(wmsql.BeginnerFromStdSQL(db), wmsql.PublisherConfig{
			SchemaAdapter: wmsql.DefaultPostgreSQLSchema{}, AutoInitializeSchema: true,
		}, logger)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = pub.Close() })
		sub, err := wmsql.NewSubscriber(wmsql.BeginnerFromStdSQL(db), wmsql.SubscriberConfig{
			ConsumerGroup:    "bench",
			SchemaAdapter:    wmsql.DefaultPostgreSQLSchema{},
			OffsetsAdapter:   wmsql.DefaultPostgreSQLOffsetsAdapter{},
			InitializeSchema: true,
		}, logger)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = sub.Close() })
		if err := sub.SubscribeInitialize(topic); err != nil {
			b.Fatal(err)
		}
		publish := func(n int) error { return pub.Publish(topic, watermillBatch(n)...) }
		consume := func(onMsg func()) func() {
			ctx, cancel := context.WithCancel(context.Background())
			ch, err := sub.Subscribe(ctx, topic)
			if err != nil {
				b.Fatal(err)
			}
			done := ackAll(ch, onMsg)
			return func() { cancel(); <-done }
		}
		return publish, consume
	}},
}

// BenchmarkSQLBusPublish: b.N messages published by sqlBusPublishers
// goroutines, one message per call; an op is one message stored
// (committed, with one consumer group registered).
func BenchmarkSQLBusPublish(b *testing.B) {
	for _, sys := range rotated(sqlSystems) {
		b.Run(sys.name, func(b *testing.B) {
			publish, _ := sys.setup(b)
			warmPublish(b, publish)
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, sqlBusPublishers)
			b.ReportAllocs()
			b.ResetTimer()
			for range sqlBusPublishers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if err := publish(1); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkSQLBusPublishBatch: b.N messages published in calls of
// busBatch (100) messages from one goroutine.
func BenchmarkSQLBusPublishBatch(b *testing.B) {
	for _, sys := range rotated(sqlSystems) {
		b.Run(sys.name, func(b *testing.B) {
			publish, _ := sys.setup(b)
			warmPublish(b, publish)
			b.ReportAllocs()
			b.ResetTimer()
			for sent := 0; sent < b.N; sent += busBatch {
				if err := publish(min(busBatch, b.N-sent)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkSQLBusConsume: b.N messages wait in the table (published before
// the timer starts); one consumer receives and acks them all.
func BenchmarkSQLBusConsume(b *testing.B) {
	for _, sys := range rotated(sqlSystems) {
		b.Run(sys.name, func(b *testing.B) {
			publish, consume := sys.setup(b)
			for sent := 0; sent < b.N; sent += 1000 {
				if err := publish(min(1000, b.N-sent)); err != nil {
					b.Fatal(err)
				}
			}
			var handled atomic.Int64
			all := make(chan struct{})
			b.ReportAllocs()
			b.ResetTimer()
			stop := consume(func() {
				if handled.Add(1) == int64(b.N) {
					close(all)
				}
			})
			select {
			case <-all:
			case <-time.After(2 * time.Minute):
				b.Fatalf("%s handled %d of %d", sys.name, handled.Load(), b.N)
			}
			b.StopTimer()
			stop()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// warmPublish publishes a few hundred messages, so that the statements are
// prepared and the connections open before the timer starts.
func warmPublish(b *testing.B, publish func(int) error) {
	for range 3 {
		if err := publish(busBatch); err != nil {
			b.Fatal(err)
		}
	}
}
