package outboxtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/sqldialect"
)

// Config describes the adapter under test.
type Config struct {
	// Connect returns a publisher and a subscriber of the broker under
	// test; the relay publishes through the publisher. Required. Instances
	// returned within one test share the broker.
	Connect func(t *testing.T) eventbustest.Instance
	// FakeTime runs each scenario in a testing/synctest bubble, on SQLite
	// only, so that waiting for a due time takes no real time. Connect is
	// then called inside the bubble: only for a broker that lives in the
	// process and does no network I/O (the memory bus). Without it, the
	// scenarios run in real time, due times a second or so ahead, on
	// SQLite and on PostgreSQL (at MICROKIT_POSTGRES_URL; skipped, or
	// failed in CI, when unset).
	FakeTime bool
	// Timeout bounds each wait for a delivery; a check fails after it. It
	// is not a speed assertion. Zero means 20s.
	Timeout time.Duration
}

// RunScheduled runs the scheduled-publishing scenarios as subtests of t,
// per database: DueOrder and RelayRestart. They assert order and that
// nothing arrives before its due time, never how soon after it.
func RunScheduled(t *testing.T, cfg Config) {
	t.Helper()
	if cfg.Connect == nil {
		t.Fatal("outboxtest: Config.Connect is required")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	scenarios := []struct {
		name string
		run  func(t *testing.T, cfg Config, d sqldialect.Dialect)
	}{
		{"DueOrder", dueOrder},
		{"RelayRestart", relayRestart},
	}
	dialects := []sqldialect.Dialect{sqldialect.SQLite, sqldialect.Postgres}
	if cfg.FakeTime {
		dialects = dialects[:1]
	}
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					if cfg.FakeTime {
						synctest.Test(t, func(t *testing.T) { sc.run(t, cfg, d) })
						return
					}
					sc.run(t, cfg, d)
				})
			}
		})
	}
}

// fixture is one scenario's outbox, broker and subscription.
type fixture struct {
	cfg    Config
	d      sqldialect.Dialect
	db     *sql.DB
	pub    eventbus.Publisher
	sub    eventbus.Subscription
	signal *outbox.Signal
	marked chan int // the events of each round the relays published and marked sent
	typ    string   // the type of the scenario's events, unique per run
}

func newFixture(t *testing.T, cfg Config, d sqldialect.Dialect) *fixture {
	t.Helper()
	db, _ := sqltest.Open(t, d, "outboxtest")
	if err := outbox.Migrate(t.Context(), db, d); err != nil {
		t.Fatal(err)
	}
	in := cfg.Connect(t)
	var b [5]byte
	_, _ = rand.Read(b[:])
	f := &fixture{cfg: cfg, d: d, db: db, pub: in.Publisher, signal: outbox.NewSignal(),
		marked: make(chan int, 100),
		typ:    "sched" + hex.EncodeToString(b[:]) + ".event"}
	sub, err := in.Subscriber.Subscribe(t.Context(), "scheduled", f.typ)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sub.Close()
		_ = in.Subscriber.Close(context.Background())
		_ = in.Publisher.Close(context.Background())
	})
	f.sub = sub
	return f
}

// event returns a new event of the scenario's type for subject.
func (f *fixture) event(t *testing.T, subject string) *eventbus.Message {
	t.Helper()
	m, err := eventbus.NewMessage(f.typ, map[string]string{"subject": subject})
	if err != nil {
		t.Fatal(err)
	}
	m.Subject = subject
	return m
}

// add commits m to the outbox, due at at (zero: unscheduled, with Add),
// and wakes the relay.
func (f *fixture) add(t *testing.T, at time.Time, m *eventbus.Message) {
	t.Helper()
	ctx := t.Context()
	tx, err := f.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if at.IsZero() {
		err = outbox.Add(ctx, tx, m)
	} else {
		err = outbox.AddAt(ctx, tx, at, m)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	f.signal.Notify()
}

// startRelay runs a relay that publishes through the adapter, woken by
// the fixture's Signal and polling once a minute, so that only its
// wake-up at the earliest due time publishes a scheduled event in time.
// stop ends it and waits for it; it is also called when the test ends.
func (f *fixture) startRelay(t *testing.T) (stop func()) {
	t.Helper()
	r, err := outbox.NewRelay(f.db, f.d, f.pub, outbox.WithWaker(f.signal), outbox.WithPollInterval(time.Minute),
		outbox.WithLogger(slog.New(slog.DiscardHandler)), outbox.WithListener(outbox.ListenerFunc(func(_ context.Context, e outbox.Event) {
			if e.Kind == outbox.EventRelayed {
				f.marked <- e.Events
			}
		})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// expect receives len(want) deliveries, acking each, and fails unless
// they are want's events in want's order, each received at or after its
// due time (zero: any time).
func (f *fixture) expect(t *testing.T, want []*eventbus.Message, due []time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), f.cfg.Timeout)
	defer cancel()
	var got []string
	for len(got) < len(want) {
		d, err := f.sub.Next(ctx)
		if err != nil {
			t.Fatalf("received %v, want %v: %v", got, ids(want), err)
		}
		now := time.Now()
		m := d.Message()
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(want, func(w *eventbus.Message) bool { return w.ID == m.ID }); i >= 0 && now.Before(due[i]) {
			t.Errorf("event %s received at %v, before its due time %v", m.ID, now, due[i])
		}
		if slices.Contains(got, m.ID) {
			continue // a redelivery: at-least-once
		}
		got = append(got, m.ID)
	}
	if !slices.Equal(got, ids(want)) {
		t.Fatalf("received %v, want %v", got, ids(want))
	}
}

// waitMarked waits until the relays marked n events sent: a subscriber
// may receive an event before the relay's round marks it.
func (f *fixture) waitMarked(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(f.cfg.Timeout)
	for n > 0 {
		select {
		case k := <-f.marked:
			n -= k
		case <-timeout:
			t.Fatalf("%d events published and not marked sent", n)
		}
	}
}

// unsent fails unless m waits in the outbox, unpublished.
func (f *fixture) unsent(t *testing.T, m *eventbus.Message) {
	t.Helper()
	var n int
	if err := f.db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+outbox.DefaultTable+" WHERE id = $1 AND sent_at IS NULL", m.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("event %s was published before its due time", m.ID)
	}
}

func ids(msgs []*eventbus.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

// dueOrder: three events of one subject scheduled a second or so ahead,
// added out of order, an event of the subject added after them without a
// due time, and one of another subject scheduled an hour ahead. The
// unscheduled one arrives first, the three in the order of their due
// times and none before it, and the far one stays in the outbox.
func dueOrder(t *testing.T, cfg Config, d sqldialect.Dialect) {
	f := newFixture(t, cfg, d)
	f.startRelay(t)
	start := time.Now()
	a, b, c, now, far := f.event(t, "s"), f.event(t, "s"), f.event(t, "s"), f.event(t, "s"), f.event(t, "other")
	dueA, dueB, dueC := start.Add(time.Second), start.Add(1200*time.Millisecond), start.Add(1400*time.Millisecond)
	f.add(t, dueC, c)
	f.add(t, dueA, a)
	f.add(t, start.Add(time.Hour), far)
	f.add(t, dueB, b)
	f.add(t, time.Time{}, now)
	f.expect(t, []*eventbus.Message{now, a, b, c}, []time.Time{{}, dueA, dueB, dueC})
	f.waitMarked(t, 4)
	f.unsent(t, far)
	backlog, err := outbox.ReadBacklog(t.Context(), f.db, f.d)
	if err != nil {
		t.Fatal(err)
	}
	if backlog.Pending != 0 || backlog.Scheduled != 1 || !backlog.NextDueAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("backlog %+v, want only the far event scheduled", backlog)
	}
}

// relayRestart: events scheduled while a relay runs, which stops before
// they are due; once they are due a new relay starts and publishes them,
// in the order of their due times.
func relayRestart(t *testing.T, cfg Config, d sqldialect.Dialect) {
	f := newFixture(t, cfg, d)
	stop := f.startRelay(t)
	start := time.Now()
	x, y, z := f.event(t, "s1"), f.event(t, "s2"), f.event(t, "s1")
	dueX, dueY, dueZ := start.Add(1200*time.Millisecond), start.Add(800*time.Millisecond), start.Add(time.Second)
	f.add(t, dueX, x)
	f.add(t, dueY, y)
	f.add(t, dueZ, z)
	stop()
	for _, m := range []*eventbus.Message{x, y, z} {
		f.unsent(t, m)
	}
	// Wait, with no relay running, until all three are due.
	time.Sleep(time.Until(dueX.Add(100 * time.Millisecond)))
	f.startRelay(t)
	f.expect(t, []*eventbus.Message{y, z, x}, []time.Time{dueY, dueZ, dueX})
}
