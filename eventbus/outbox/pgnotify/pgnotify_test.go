package pgnotify_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/eventbus/outbox/pgnotify"
	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/sqldialect"
)

// openPostgres returns an outbox database in a fresh schema with a table
// name of its own (notification channels are per database, not per
// schema), migrated with opts, and its DSN, for the connection pools of
// other "processes".
func openPostgres(t *testing.T, opts ...outbox.Option) (db *sql.DB, table, dsn string) {
	t.Helper()
	dsn, schema := sqltest.PostgresSchema(t, "pgnotify_test")
	table = "outbox_" + strings.TrimPrefix(schema, "pgnotify_test_")
	db = openPool(t, dsn)
	if err := outbox.Migrate(context.Background(), db, sqldialect.Postgres, append(opts, outbox.WithTable(table))...); err != nil {
		t.Fatal(err)
	}
	return db, table, dsn
}

// openPool opens a connection pool of its own on dsn, closed when the
// test ends.
func openPool(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sqldb.Open(sqldialect.Postgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// newNotifier returns a Notifier on table's channel, closed when the test
// ends.
func newNotifier(t *testing.T, db *sql.DB, table string, opts ...pgnotify.Option) *pgnotify.Notifier {
	t.Helper()
	n := pgnotify.NewNotifier(db, table, opts...)
	t.Cleanup(func() {
		if err := n.Close(context.Background()); err != nil {
			t.Errorf("Notifier.Close: %v", err)
		}
	})
	return n
}

func add(t *testing.T, db *sql.DB, table string) *eventbus.Message {
	t.Helper()
	ob, err := outbox.New(outbox.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := eventbus.NewMessage("order.created", map[string]string{"orderId": "o-1"})
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Add(context.Background(), tx, m); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestWaitWakesOnAdd: after the first (subscribing) Wait, a Wait returns
// when another connection pool commits events to the outbox and notifies.
func TestWaitWakesOnAdd(t *testing.T) {
	db, table, dsn := openPostgres(t)
	producer := openPool(t, dsn)
	n := newNotifier(t, producer, table)
	l := pgnotify.New(db, table)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer l.Close(ctx)
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	woke := make(chan error, 1)
	go func() { woke <- l.Wait(ctx) }()
	add(t, producer, table)
	n.Notify()
	if err := <-woke; err != nil {
		t.Fatalf("Wait after an Add: %v", err)
	}
	// Without a notification, Wait blocks until its context ends.
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if err := l.Wait(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context = %v, want context.Canceled", err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(ctx); !errors.Is(err, pgnotify.ErrClosed) {
		t.Fatalf("Wait after Close = %v, want ErrClosed", err)
	}
}

// TestCloseGivesUpOnAWait: Close waits for a Wait in progress only until
// its context ends; the listener is closed anyway, and that Wait releases
// the connection and returns ErrClosed once it wakes.
func TestCloseGivesUpOnAWait(t *testing.T) {
	db, table, dsn := openPostgres(t)
	n := newNotifier(t, openPool(t, dsn), table) // db's connections are counted below
	l := pgnotify.New(db, table)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- l.Wait(ctx) }()
	for !pgnotify.Waiting(l) {
		if ctx.Err() != nil {
			t.Fatal("the Wait did not start")
		}
		runtime.Gosched()
	}
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	if err := l.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close during a Wait = %v, want the context's error", err)
	}
	add(t, db, table)
	n.Notify()
	if err := <-waiting; !errors.Is(err, pgnotify.ErrClosed) {
		t.Fatalf("the Wait Close gave up on = %v, want ErrClosed", err)
	}
	if err := l.Wait(ctx); !errors.Is(err, pgnotify.ErrClosed) {
		t.Fatalf("Wait after Close = %v, want ErrClosed", err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := db.Stats().InUse; n != 0 {
		t.Errorf("%d connections still in use after Close", n)
	}
}

// runHourly runs a relay on table that polls once an hour and is woken by
// a pgnotify.Listener, publishing into a memory bus, until the test ends;
// it returns a subscription to pattern on the bus.
func runHourly(t *testing.T, db *sql.DB, table, pattern string) eventbus.Subscription {
	t.Helper()
	bus, _ := memory.New()
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := bus.Subscribe(ctx, "c", pattern)
	if err != nil {
		t.Fatal(err)
	}
	l := pgnotify.New(db, table)
	relay, err := outbox.NewRelay(db, sqldialect.Postgres, bus, outbox.WithTable(table), outbox.WithWaker(l),
		outbox.WithPollInterval(time.Hour), outbox.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = relay.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = l.Close(context.Background())
		_ = bus.Close(context.Background())
	})
	return sub
}

// TestRelayWokenBeforePoll: on a table migrated with
// outbox.WithNotifyTrigger, a relay whose poll interval is an hour
// publishes an event added after it started, with no Notifier: only the
// trigger's notification can have woken it.
func TestRelayWokenBeforePoll(t *testing.T) {
	db, table, _ := openPostgres(t, outbox.WithNotifyTrigger())
	ctx := t.Context()
	sub := runHourly(t, db, table, "order.created")
	// The first round runs right after the listener subscribed; wait until
	// it found the outbox empty, so the next round needs a notification.
	first := add(t, db, table)
	next, cancelNext := context.WithTimeout(ctx, 30*time.Second)
	defer cancelNext()
	d, err := sub.Next(next)
	if err != nil || d.Message().ID != first.ID {
		t.Fatalf("first event: %v", err)
	}
	_ = d.Ack(ctx)
	second := add(t, db, table)
	d, err = sub.Next(next)
	if err != nil {
		t.Fatalf("the relay was not woken by the notification: %v", err)
	}
	if d.Message().ID != second.ID {
		t.Fatalf("got %s, want %s", d.Message().ID, second.ID)
	}
}
