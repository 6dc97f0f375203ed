package outbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/eventbus/outbox/pgnotify"
	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/sqldialect"
	"github.com/nats-io/nats.go"
)

// The recovery tests let an outage last long enough for failedRounds
// failed rounds (about 3.5s with the default max backoff of 1s), then bound
// how long after the outage the relay publishes. A relay whose pause kept
// doubling (to 12.8s after this many failures) or that waited for a poll
// interval misses the bounds by far; the gap measured is logged.
const (
	failedRounds = 7
	// storeBound: the relay pings a database that is down every 100ms and
	// resumes when it answers; typically under 100ms.
	storeBound = time.Second
	// brokerBound: the relay retries a broker that is down after the max
	// backoff (1s) plus a round; the rest is room for a loaded machine.
	brokerBound = 3 * time.Second
)

// runRelay runs relay until the returned stop is called; stop waits for Run
// to return and checks its result.
func runRelay(ctx context.Context, t *testing.T, relay *outbox.Relay) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
}

// TestRelayResumesAfterPostgresRestart stops and restarts a PostgreSQL
// server of the test's own under a running relay (woken by a pgnotify
// Listener and Notifier, polling every 100ms): the failed rounds are
// logged, and an event added once the server is back is published within
// storeBound.
func TestRelayResumesAfterPostgresRestart(t *testing.T) {
	srv := sqltest.StartPostgres(t)
	db, err := sqldb.Open(sqldialect.Postgres, srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := outbox.Migrate(ctx, db, sqldialect.Postgres); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	bus := newBus(t)
	got := collect(t, bus, "order.>")
	logs := newLogRecorder()
	listener := pgnotify.New(db, outbox.DefaultTable)
	defer listener.Close(context.Background()) // after Run returned: Close waits for a Wait in progress
	notifier := pgnotify.NewNotifier(db, outbox.DefaultTable, pgnotify.WithLogger(slog.New(slog.DiscardHandler)))
	defer notifier.Close(context.Background())
	relay, err := outbox.NewRelay(db, sqldialect.Postgres, bus, outbox.WithLogger(slog.New(logs)),
		outbox.WithWaker(listener), outbox.WithPollInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer runRelay(ctx, t, relay)()

	if err := createOrder(ctx, db, "order-1", orderCreated(t, "order-1", 1)); err != nil {
		t.Fatal(err)
	}
	notifier.Notify()
	got.waitFor(t, 1)
	srv.Stop(t)
	logs.waitFor(t, "outbox: relay round failed", failedRounds)
	srv.Start(t)
	back := time.Now()
	e := orderCreated(t, "order-2", 2)
	for err := createOrder(ctx, db, "order-2", e); err != nil; err = createOrder(ctx, db, "order-2", e) {
		// The pool may hand out a connection broken by the restart first.
		if ctx.Err() != nil {
			t.Fatalf("adding an event after the restart: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	notifier.Notify()
	got.waitFor(t, 2)
	lag := time.Since(back)
	t.Logf("published %s after the server was back", lag.Round(time.Millisecond))
	if lag > storeBound {
		t.Errorf("relay published %s after the server was back, want within %s", lag, storeBound)
	}
	logs.waitFor(t, "outbox: relay recovered", 1)
}

// TestRelayResumesAfterBrokerRestart stops the NATS server under a running
// relay, adds events and notifies the relay while it is down, and restarts
// it: the events are published within brokerBound of the broker's return.
// The client's reconnect buffer is off, so that nothing but the relay can
// publish them.
func TestRelayResumesAfterBrokerRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, bus, sub := natsBilling(t, natsbus.WithNATSOptions(nats.ReconnectBufSize(-1)))
	d := openSQLite(t)
	logs := newLogRecorder()
	sig := outbox.NewSignal()
	relay := newRelay(t, d, bus, outbox.WithLogger(slog.New(logs)), outbox.WithWaker(sig),
		outbox.WithPollInterval(100*time.Millisecond), outbox.WithPublishTimeout(200*time.Millisecond))
	defer runRelay(ctx, t, relay)()

	srv.Shutdown()
	want := make(map[string]bool)
	for i := range 5 {
		e := orderCreated(t, fmt.Sprint("order-", i), i)
		want[e.ID] = true
		if err := createOrder(ctx, d.db, e.Subject, e); err != nil {
			t.Fatal(err)
		}
		sig.Notify()
	}
	logs.waitFor(t, "outbox: relay round failed", failedRounds)
	srv.Restart(t)
	back := time.Now()
	for len(want) > 0 {
		dl, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %d events: %v", len(want), err)
		}
		delete(want, dl.Message().ID)
		_ = dl.Ack(ctx)
	}
	lag := time.Since(back)
	t.Logf("published %s after the broker was back", lag.Round(time.Millisecond))
	if lag > brokerBound {
		t.Errorf("relay published %s after the broker was back, want within %s", lag, brokerBound)
	}
}
