package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/sqldialect"
)

// published is one message a timedPublisher saw, and when.
type published struct {
	id string
	at time.Time
}

// timedPublisher is a publisher that records each message with the time of its
// publish, in publishing order.
type timedPublisher struct {
	mu   sync.Mutex
	msgs []published
}

func (p *timedPublisher) Publish(_ context.Context, msgs ...*eventbus.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range msgs {
		p.msgs = append(p.msgs, published{m.ID, time.Now()})
	}
	return nil
}

func (p *timedPublisher) Close(context.Context) error { return nil }

// seen returns what was published so far.
func (p *timedPublisher) seen() []published {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.msgs)
}

// ids returns the IDs published so far, in order.
func (p *timedPublisher) ids() []string {
	var ids []string
	for _, m := range p.seen() {
		ids = append(ids, m.id)
	}
	return ids
}

// schedule adds msgs to the default outbox of db in one transaction, due
// at at (the zero time: unscheduled, with Add).
func schedule(t testing.TB, db *sql.DB, at time.Time, msgs ...*eventbus.Message) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if at.IsZero() {
		err = outbox.Add(ctx, tx, msgs...)
	} else {
		err = outbox.AddAt(ctx, tx, at, msgs...)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// runScheduled runs r until the test ends or the returned stop is
// called, which may be called twice.
func runScheduled(t *testing.T, r *outbox.Relay) (stop func()) {
	t.Helper()
	var once sync.Once
	s := runRelay(context.Background(), t, r)
	stop = func() { once.Do(s) }
	t.Cleanup(stop)
	return stop
}

// TestScheduledNotBeforeDue runs a relay that polls once an hour in a
// synctest bubble: an event due in 10 minutes is not published a
// nanosecond before, and is published at its due time, by the relay's
// wake-up at the earliest due time; an event scheduled earlier while the
// relay sleeps, with a Signal, moves that wake-up.
func TestScheduledNotBeforeDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := openSQLite(t)
		start := time.Now()
		late, early := orderCreated(t, "o-1", 1), orderCreated(t, "o-2", 2)
		schedule(t, d.db, start.Add(10*time.Minute), late)
		pub := &timedPublisher{}
		sig := outbox.NewSignal()
		runScheduled(t, newRelay(t, d, pub, outbox.WithPollInterval(time.Hour), outbox.WithWaker(sig)))
		synctest.Wait()
		if got := pub.ids(); len(got) != 0 {
			t.Fatalf("published %v before anything was due", got)
		}
		time.Sleep(time.Minute)
		schedule(t, d.db, start.Add(5*time.Minute), early)
		sig.Notify()
		time.Sleep(4*time.Minute - time.Nanosecond)
		synctest.Wait()
		if got := pub.ids(); len(got) != 0 {
			t.Fatalf("published %v a nanosecond before the first due time", got)
		}
		time.Sleep(5*time.Minute + time.Nanosecond)
		synctest.Wait()
		want := []published{{early.ID, start.Add(5 * time.Minute)}, {late.ID, start.Add(10 * time.Minute)}}
		if got := pub.seen(); !slices.Equal(got, want) {
			t.Fatalf("published %v, want %v: each at its due time (fake time, no round latency)", got, want)
		}
	})
}

// TestScheduledOrder: events added with Add go out first, in the order
// added; scheduled ones in the order of their due times, those due at one
// time in the order added, whatever their subjects and the order they
// were added in.
func TestScheduledOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := openSQLite(t)
		start := time.Now()
		msg := func(subject string) *eventbus.Message { return orderCreated(t, subject, 0) }
		c, a, b, dd, e := msg("s1"), msg("s1"), msg("s2"), msg("s1"), msg("s1")
		schedule(t, d.db, start.Add(3*time.Second), c)
		schedule(t, d.db, start.Add(time.Second), a)
		schedule(t, d.db, start.Add(2*time.Second), b)
		schedule(t, d.db, start.Add(2*time.Second), dd)
		schedule(t, d.db, time.Time{}, e)
		pub := &timedPublisher{}
		runScheduled(t, newRelay(t, d, pub, outbox.WithPollInterval(time.Hour)))
		time.Sleep(time.Minute)
		synctest.Wait()
		want := []published{
			{e.ID, start},
			{a.ID, start.Add(time.Second)},
			{b.ID, start.Add(2 * time.Second)},
			{dd.ID, start.Add(2 * time.Second)},
			{c.ID, start.Add(3 * time.Second)},
		}
		if got := pub.seen(); !slices.Equal(got, want) {
			t.Fatalf("published\n%v, want\n%v", got, want)
		}
	})
}

// TestScheduledAcrossRelayRestart: events that fell due while no relay
// ran are published by the next relay as it starts, in the order of their
// due times; those not due yet still wait for theirs.
func TestScheduledAcrossRelayRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := openSQLite(t)
		start := time.Now()
		pub := &timedPublisher{}
		stop := runScheduled(t, newRelay(t, d, pub, outbox.WithPollInterval(time.Hour)))
		var want []string
		for _, due := range []time.Duration{3, 1, 2} {
			m := orderCreated(t, fmt.Sprintf("o-%d", due), int(due))
			schedule(t, d.db, start.Add(due*time.Second), m)
			want = append(want, m.ID)
		}
		want = []string{want[1], want[2], want[0]}
		later := orderCreated(t, "o-later", 9)
		schedule(t, d.db, start.Add(time.Hour), later)
		time.Sleep(500 * time.Millisecond)
		stop()
		time.Sleep(10 * time.Second)
		if got := pub.ids(); len(got) != 0 {
			t.Fatalf("published %v before the relay stopped, before anything was due", got)
		}
		restart := time.Now()
		runScheduled(t, newRelay(t, d, pub, outbox.WithPollInterval(time.Hour)))
		synctest.Wait()
		got := pub.seen()
		if len(got) != 3 {
			t.Fatalf("after the restart published %v, want %v", got, want)
		}
		for i, p := range got {
			if p.id != want[i] || !p.at.Equal(restart) {
				t.Fatalf("after the restart published %v, want %v at once", got, want)
			}
		}
		time.Sleep(time.Hour - 10*time.Second)
		synctest.Wait()
		if got := pub.seen(); len(got) != 4 || got[3] != (published{later.ID, start.Add(time.Hour)}) {
			t.Fatalf("published %v, want %s last at its due time", got, later.ID)
		}
	})
}

// TestFarFutureDoesNotBlock: an event scheduled a year ahead holds back
// neither the events of its subject added after it nor those of others,
// on every backend (on PostgreSQL through the relay's check of subject
// heads); an event scheduled in the past is due at once.
func TestFarFutureDoesNotBlock(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := t.Context()
			d := be.Open(t)
			far, same, other, past := orderCreated(t, "o-1", 1), orderCreated(t, "o-1", 2), orderCreated(t, "o-2", 3), orderCreated(t, "o-1", 4)
			schedule(t, d.db, time.Now().AddDate(1, 0, 0), far)
			schedule(t, d.db, time.Time{}, same, other)
			schedule(t, d.db, time.Now().Add(-time.Minute), past)
			pub := &timedPublisher{}
			r := newRelay(t, d, pub)
			if n, err := r.RelayOnce(ctx); err != nil || n != 3 {
				t.Fatalf("RelayOnce = %d, %v; want 3", n, err)
			}
			if got, want := pub.ids(), []string{same.ID, other.ID, past.ID}; !slices.Equal(got, want) {
				t.Fatalf("published %v, want %v", got, want)
			}
			if n, err := r.RelayOnce(ctx); err != nil || n != 0 {
				t.Fatalf("second RelayOnce = %d, %v; want 0", n, err)
			}
			if n := d.count(t, "SELECT count(*) FROM microkit_outbox WHERE sent_at IS NULL AND id = $1", far.ID); n != 1 {
				t.Fatalf("the far-future event: %d unsent rows, want 1", n)
			}
		})
	}
}

// TestAddAtRejectsZeroTime: the zero time is a mistake, not "now".
func TestAddAtRejectsZeroTime(t *testing.T) {
	d := openSQLite(t)
	ctx := t.Context()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := outbox.AddAt(ctx, tx, time.Time{}, orderCreated(t, "o-1", 1)); err == nil {
		t.Fatal("AddAt with the zero time: no error")
	}
}

// TestReadBacklogScheduled: scheduled events that are not due are counted
// apart from the backlog, with the earliest due time; once due they join
// the backlog, waiting since their due time.
func TestReadBacklogScheduled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		d := openSQLite(t)
		read := func() outbox.Backlog { return d.backlog(t) }
		start := time.Now()
		schedule(t, d.db, start.Add(2*time.Hour), orderCreated(t, "o-1", 1))
		schedule(t, d.db, start.Add(time.Hour), orderCreated(t, "o-2", 2))
		if b, want := read(), (outbox.Backlog{Scheduled: 2, NextDueAt: start.Add(time.Hour).UTC()}); b != want {
			t.Fatalf("two scheduled: %+v, want %+v", b, want)
		}
		time.Sleep(time.Minute)
		schedule(t, d.db, time.Time{}, orderCreated(t, "o-3", 3))
		if b, want := read(), (outbox.Backlog{Pending: 1, OldestAt: start.Add(time.Minute).UTC(), Scheduled: 2, NextDueAt: start.Add(time.Hour).UTC()}); b != want {
			t.Fatalf("one added: %+v, want %+v", b, want)
		}
		if n, err := newRelay(t, d, &timedPublisher{}).RelayOnce(ctx); err != nil || n != 1 {
			t.Fatalf("RelayOnce = %d, %v", n, err)
		}
		time.Sleep(time.Hour)
		if b, want := read(), (outbox.Backlog{Pending: 1, OldestAt: start.Add(time.Hour).UTC(), Scheduled: 1, NextDueAt: start.Add(2 * time.Hour).UTC()}); b != want {
			t.Fatalf("one due: %+v, want %+v (waiting since its due time)", b, want)
		}
	})
}

// TestReadBacklogScheduledEveryBackend is TestReadBacklogScheduled's
// first steps on every backend, in real time with due times an hour ahead.
func TestReadBacklogScheduledEveryBackend(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			d := be.Open(t)
			due := time.Now().Add(time.Hour)
			schedule(t, d.db, due.Add(time.Hour), orderCreated(t, "o-1", 1))
			schedule(t, d.db, due, orderCreated(t, "o-2", 2))
			schedule(t, d.db, time.Time{}, orderCreated(t, "o-3", 3))
			if b := d.backlog(t); b.Pending != 1 || b.Scheduled != 2 || !b.NextDueAt.Equal(due) || b.OldestAt.IsZero() {
				t.Fatalf("backlog %+v, want 1 pending, 2 scheduled, next due at %v", b, due)
			}
		})
	}
}

// TestMigrateUpgradesOldTable: an outbox table made before events could
// be scheduled, holding an unsent event, gains due_at (0 for that event)
// and the index of due events; the old event is published, and events
// can be scheduled in it.
func TestMigrateUpgradesOldTable(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := t.Context()
			d := be.Open(t)
			const table = "old_outbox"
			seq, blob := "INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"
			if d.dialect == sqldialect.Postgres {
				seq, blob = "BIGSERIAL PRIMARY KEY", "BYTEA"
			}
			for _, stmt := range []string{
				`CREATE TABLE ` + table + ` (seq ` + seq + `, id TEXT NOT NULL, type TEXT NOT NULL, subject TEXT NOT NULL,
					envelope ` + blob + ` NOT NULL, created_at BIGINT NOT NULL, sent_at BIGINT,
					attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT)`,
				`CREATE INDEX ` + table + `_unsent ON ` + table + ` (seq) WHERE sent_at IS NULL`,
				`CREATE INDEX ` + table + `_unsent_subject ON ` + table + ` (subject, seq) WHERE sent_at IS NULL`,
				`CREATE INDEX ` + table + `_sent ON ` + table + ` (sent_at) WHERE sent_at IS NOT NULL`,
			} {
				if _, err := d.db.ExecContext(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
			old := orderCreated(t, "o-1", 1)
			env, err := eventbus.Marshal(old)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.db.ExecContext(ctx, "INSERT INTO "+table+" (id, type, subject, envelope, created_at) VALUES ($1, $2, $3, $4, $5)",
				old.ID, old.Type, old.Subject, env, time.Now().UnixNano()); err != nil {
				t.Fatal(err)
			}
			tbl := outbox.WithTable(table)
			for range 2 { // the second finds nothing to do
				if err := outbox.Migrate(ctx, d.db, d.dialect, tbl); err != nil {
					t.Fatal(err)
				}
			}
			if n := d.count(t, "SELECT count(*) FROM "+table+" WHERE due_at = 0"); n != 1 {
				t.Fatalf("%d rows with due_at 0, want the old event", n)
			}
			indexes := "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = $1"
			if d.dialect == sqldialect.Postgres {
				indexes = "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1"
			}
			if n := d.count(t, indexes, table+"_due"); n != 1 {
				t.Fatalf("index %s_due: %d, want 1", table, n)
			}
			if n := d.count(t, indexes, table+"_unsent"); n != 0 {
				t.Fatalf("index %s_unsent still there", table)
			}
			ob, err := outbox.New(tbl)
			if err != nil {
				t.Fatal(err)
			}
			later := orderCreated(t, "o-1", 2)
			tx, err := d.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := ob.AddAfter(ctx, tx, time.Hour, later); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			pub := &timedPublisher{}
			if n, err := newRelay(t, d, pub, tbl).RelayOnce(ctx); err != nil || n != 1 {
				t.Fatalf("RelayOnce = %d, %v", n, err)
			}
			if got := pub.ids(); !slices.Equal(got, []string{old.ID}) {
				t.Fatalf("published %v, want the old event only", got)
			}
			if b := d.backlog(t, tbl); b.Pending != 0 || b.Scheduled != 1 {
				t.Fatalf("backlog %+v, want the scheduled event only", b)
			}
		})
	}
}
