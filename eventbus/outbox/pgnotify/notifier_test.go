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

	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/eventbus/outbox/pgnotify"
	"github.com/go-microkit/microkit/sqldialect"
	"github.com/jackc/pgx/v5"
)

// probe is a connection that LISTENs on a channel and counts what it
// hears, to check which notifications were sent. Its end markers go on a
// channel of their own, so that they wake no Listener of the channel.
type probe struct {
	conn         *pgx.Conn
	channel, end string
}

func newProbe(t *testing.T, dsn, channel string) *probe {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	p := &probe{conn: conn, channel: channel, end: channel + "_probe_end"}
	for _, c := range []string{p.channel, p.end} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{c}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// heard returns how many notifications were committed on the channel
// since the last call: it sends an end marker itself and counts what
// arrives before it, a session receiving the notifications of all its
// channels in the order their transactions committed.
func (p *probe) heard(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a deadlock guard
	defer cancel()
	if _, err := p.conn.Exec(ctx, "SELECT pg_notify($1, '')", p.end); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		m, err := p.conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("waiting for the end marker after %d notifications: %v", n, err)
		}
		if m.Channel == p.end {
			return n
		}
		n++
	}
}

// TestMigrateTrigger: Migrate installs no NOTIFY trigger, so a commit
// that adds events sends no notification; WithNotifyTrigger installs it
// (one notification per adding commit); a plain Migrate of a database
// migrated with it drops the trigger and its function, and the option
// installs them again.
func TestMigrateTrigger(t *testing.T) {
	db, table, dsn := openPostgres(t)
	ctx := t.Context()
	p := newProbe(t, dsn, table)
	migrate := func(opts ...outbox.Option) {
		t.Helper()
		if err := outbox.Migrate(ctx, db, sqldialect.Postgres, append(opts, outbox.WithTable(table))...); err != nil {
			t.Fatal(err)
		}
	}
	installed := func() (trigger, function bool) {
		t.Helper()
		q := `SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2),
	to_regprocedure($2 || '()') IS NOT NULL`
		if err := db.QueryRowContext(ctx, q, table, table+"_notify").Scan(&trigger, &function); err != nil {
			t.Fatal(err)
		}
		return trigger, function
	}
	check := func(step string, want int) {
		t.Helper()
		add(t, db, table)
		add(t, db, table)
		trigger, function := installed()
		if got := p.heard(t); got != want || trigger != (want > 0) || function != (want > 0) {
			t.Errorf("%s: two adding commits sent %d notifications (trigger %v, function %v), want %d",
				step, got, trigger, function, want)
		}
	}
	check("Migrate", 0)
	migrate(outbox.WithNotifyTrigger())
	check("Migrate(WithNotifyTrigger)", 2)
	migrate(outbox.WithNotifyTrigger())
	check("Migrate(WithNotifyTrigger) again", 2)
	migrate()
	check("Migrate after WithNotifyTrigger", 0)
	migrate()
	check("Migrate again", 0)
}

// TestNotifierWakesRelayInAnotherProcess: a relay in one "process" (a
// connection pool of its own, a Listener as its Waker, an hourly poll)
// publishes the events another process commits and notifies with a
// Notifier. The commits themselves send no notification (Migrate
// installed no trigger), so that, after the relay's first round, nothing
// but the Notifier can wake it before its poll.
func TestNotifierWakesRelayInAnotherProcess(t *testing.T) {
	db, table, dsn := openPostgres(t)
	ctx := t.Context()
	p := newProbe(t, dsn, table)
	sub := runHourly(t, db, table, "order.created")
	producer := openPool(t, dsn)
	next, cancelNext := context.WithTimeout(ctx, 30*time.Second) // a deadlock guard
	defer cancelNext()
	for i := range 3 {
		// A Notifier per event, closed once the event is received, so
		// that its notification is sent before the next event's check.
		n := pgnotify.NewNotifier(producer, table)
		want := add(t, producer, table)
		if got := p.heard(t); got != 0 {
			t.Fatalf("event %d: its commit sent %d notifications, want none", i, got)
		}
		n.Notify()
		d, err := sub.Next(next)
		if err != nil {
			t.Fatalf("event %d: the relay was not woken: %v", i, err)
		}
		if d.Message().ID != want.ID {
			t.Fatalf("event %d: got %s, want %s", i, d.Message().ID, want.ID)
		}
		_ = d.Ack(ctx)
		if err := n.Close(next); err != nil {
			t.Fatal(err)
		}
		if got := p.heard(t); got != 1 {
			t.Fatalf("event %d: Notify sent %d notifications, want 1", i, got)
		}
	}
}

// inFlight is a Notifier with a send in flight: the send waits for the
// only connection of its pool, which the test holds until it closes held.
type inFlight struct {
	n    *pgnotify.Notifier
	p    *probe // on the Notifier's channel
	held *sql.Conn
	ctx  context.Context // the test's deadlock guard
}

// startInFlight returns a Notifier on a fresh outbox table's channel,
// once its first send waits for the connection the test holds. The test
// closes the Notifier.
func startInFlight(t *testing.T) inFlight {
	t.Helper()
	_, table, dsn := openPostgres(t)
	f := inFlight{p: newProbe(t, dsn, table)}
	pool := openPool(t, dsn)
	pool.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	f.ctx = ctx
	held, err := pool.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = held.Close() })
	f.held = held
	f.n = pgnotify.NewNotifier(pool, table)
	f.n.Notify()
	for pool.Stats().WaitCount == 0 {
		if ctx.Err() != nil {
			t.Fatal("the send did not start")
		}
		runtime.Gosched()
	}
	return f
}

// TestNotifierCoalesces: while a send waits for the pool's only
// connection, 10,000 Notify calls from 16 goroutines make exactly one
// more send after it, sent after the last call returned.
func TestNotifierCoalesces(t *testing.T) {
	f := startInFlight(t)
	notifyAll(16, 10000, f.n)
	_ = f.held.Close()
	if err := f.n.Close(f.ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.p.heard(t); got != 2 {
		t.Fatalf("a send in flight and 10000 calls during it sent %d notifications, want 2", got)
	}
}

// notifyAll calls n.Notify calls times from goroutines goroutines, and
// returns once every call returned.
func notifyAll(goroutines, calls int, n *pgnotify.Notifier) {
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := g; i < calls; i += goroutines {
				n.Notify()
			}
		})
	}
	wg.Wait()
}

// TestNotifierBurst: 10,000 Notify calls from 16 goroutines against a
// free pool send far fewer notifications than calls, and at least one.
func TestNotifierBurst(t *testing.T) {
	db, table, dsn := openPostgres(t)
	p := newProbe(t, dsn, table)
	n := newNotifier(t, db, table)
	const calls = 10000
	notifyAll(16, calls, n)
	if err := n.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := p.heard(t)
	t.Logf("%d calls sent %d notifications", calls, got)
	if got < 1 || got > calls/10 {
		t.Fatalf("%d calls sent %d notifications, want between 1 and %d", calls, got, calls/10)
	}
}

// TestNotifierClose: Close waits for a send in flight, or cancels it when
// its context ends, and sends a pending Notify; Notify after Close sends
// nothing; Close is idempotent.
func TestNotifierClose(t *testing.T) {
	t.Run("waits for the send in flight", func(t *testing.T) {
		f := startInFlight(t)
		closed := make(chan error, 1)
		go func() { closed <- f.n.Close(f.ctx) }()
		_ = f.held.Close()
		if err := <-closed; err != nil {
			t.Fatalf("Close with a send in flight = %v", err)
		}
		f.n.Notify() // after Close: nothing
		if err := f.n.Close(f.ctx); err != nil {
			t.Fatalf("second Close = %v", err)
		}
		if got := f.p.heard(t); got != 1 {
			t.Fatalf("a send in flight at Close, then a Notify after it, sent %d notifications, want 1", got)
		}
	})
	t.Run("gives up on the send in flight", func(t *testing.T) {
		f := startInFlight(t)
		short, cancelShort := context.WithCancel(f.ctx)
		cancelShort()
		if err := f.n.Close(short); !errors.Is(err, context.Canceled) {
			t.Fatalf("Close with an ended context = %v, want context.Canceled", err)
		}
		// The send was cancelled: the goroutine ends though the
		// connection it waited for is still held.
		if err := f.n.Close(f.ctx); err != nil {
			t.Fatalf("Close after giving up = %v", err)
		}
		_ = f.held.Close()
		if got := f.p.heard(t); got != 0 {
			t.Fatalf("a cancelled send sent %d notifications, want 0", got)
		}
	})
	t.Run("pending Notify is sent", func(t *testing.T) {
		db, table, dsn := openPostgres(t)
		p := newProbe(t, dsn, table)
		n := pgnotify.NewNotifier(db, table)
		n.Notify()
		if err := n.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		n.Notify()
		if got := p.heard(t); got != 1 {
			t.Fatalf("a Notify before Close and one after sent %d notifications, want 1", got)
		}
	})
}

// TestNotifierLogsFailedSend: a send that fails (here on a closed pool) is
// logged with the channel and dropped; the Notifier goes on.
func TestNotifierLogsFailedSend(t *testing.T) {
	_, table, dsn := openPostgres(t)
	broken := openPool(t, dsn)
	_ = broken.Close()
	logs := &recorder{}
	n := pgnotify.NewNotifier(broken, table, pgnotify.WithLogger(slog.New(logs)))
	n.Notify()
	if err := n.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.records) != 1 || logs.records[0].Level != slog.LevelWarn {
		t.Fatalf("logged %v, want one warning", logs.records)
	}
	r := logs.records[0]
	attrs := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	if attrs["channel"] != table || !strings.Contains(attrs["error"], "closed") {
		t.Fatalf("logged %q with %v, want the channel %s and the pool's error", r.Message, attrs, table)
	}
}

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }
