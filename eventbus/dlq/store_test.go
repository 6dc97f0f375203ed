package dlq_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/dlq"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/sqldialect"
)

func openStore(t *testing.T, opts ...dlq.Option) *dlq.Store {
	t.Helper()
	db, _ := sqltest.Open(t, sqldialect.SQLite, "dlq_test")
	return migrated(t, db, sqldialect.SQLite, opts...)
}

// openPostgresStore returns a store in a fresh PostgreSQL schema, dropped
// when the test ends.
func openPostgresStore(t *testing.T, opts ...dlq.Option) *dlq.Store {
	t.Helper()
	db, _ := sqltest.Open(t, sqldialect.Postgres, "dlq_test")
	return migrated(t, db, sqldialect.Postgres, opts...)
}

func migrated(t *testing.T, db *sql.DB, d sqldialect.Dialect, opts ...dlq.Option) *dlq.Store {
	t.Helper()
	s, err := dlq.New(db, d, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	return s
}

var backends = []struct {
	name string
	open func(t *testing.T, opts ...dlq.Option) *dlq.Store
}{
	{"sqlite", openStore},
	{"postgres", openPostgresStore},
}

// onEachBackend runs test on a fresh store of each backend, as subtests.
func onEachBackend(t *testing.T, test func(t *testing.T, store *dlq.Store)) {
	t.Helper()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { test(t, be.open(t)) })
	}
}

// TestParkListReplay runs the whole path: a poison message is
// dead-lettered by a router, collected by the store's handler, listed with
// its reason and replayed to its original type, where a fixed handler
// takes it.
func TestParkListReplay(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { testParkListReplay(t, be.open) })
	}
}

func testParkListReplay(t *testing.T, open func(*testing.T, ...dlq.Option) *dlq.Store) {
	ctx := context.Background()
	store := open(t)
	bus, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close(context.Background())

	// The collector: its own group on every dead-letter type.
	collector, err := eventbus.NewRouter(bus, "microkit-dlq")
	if err != nil {
		t.Fatal(err)
	}
	if err := collector.Handle(eventbus.DeadLetterPrefix+">", store.Handler()); err != nil {
		t.Fatal(err)
	}
	if err := collector.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer collector.Close(ctx)

	// A consumer whose handler rejects the order until it is fixed.
	fixed := make(chan struct{})
	handled := make(chan *eventbus.Message, 1)
	billing, err := eventbus.NewRouter(bus, "billing", eventbus.WithMiddleware(
		eventbus.DeadLetter(bus),
	))
	if err != nil {
		t.Fatal(err)
	}
	if err := billing.Handle("order.created", func(ctx context.Context, m *eventbus.Message) error {
		select {
		case <-fixed:
			handled <- m
			return nil
		default:
			return retry.Permanent(errors.New("unknown currency XTS"))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := billing.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer billing.Close(ctx)

	poison, _ := eventbus.NewMessage("order.created", map[string]string{"orderId": "o-9", "currency": "XTS"})
	poison.Subject = "o-9"
	poison.Metadata = map[string]string{"traceparent": "00-abc"}
	if err := bus.Publish(ctx, poison); err != nil {
		t.Fatal(err)
	}
	var entries []dlq.Entry
	deadline := time.After(30 * time.Second)
	for len(entries) == 0 {
		select {
		case <-deadline:
			t.Fatal("the poison message was never parked")
		case <-time.After(10 * time.Millisecond):
		}
		if entries, err = store.List(ctx, dlq.Filter{Type: "order.>"}); err != nil {
			t.Fatal(err)
		}
	}
	e := entries[0]
	// Parked at the time the dead letter says it failed, not when the
	// collector got to it.
	failedAt, err := time.Parse(time.RFC3339Nano, e.Message.Metadata[eventbus.MetaDeadLetterTime])
	if err != nil {
		t.Fatalf("the dead letter's time: %v", err)
	}
	if len(entries) != 1 || e.OriginalID != poison.ID || e.OriginalType != "order.created" || e.Reason != "unknown currency XTS" ||
		e.Group != "billing" || e.Handler != "order.created" || e.Attempts != 1 || !e.ParkedAt.Equal(failedAt) {
		t.Fatalf("entries = %+v", entries)
	}
	if other, _ := store.List(ctx, dlq.Filter{Group: "shipping"}); len(other) != 0 {
		t.Fatalf("group filter: %d entries of shipping, want 0", len(other))
	}
	if other, _ := store.List(ctx, dlq.Filter{Type: "payment.>"}); len(other) != 0 {
		t.Fatalf("type filter: %d payment entries, want 0", len(other))
	}

	// Fix the handler, replay: the original message comes back as it was.
	close(fixed)
	if err := store.Replay(ctx, bus, e.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-handled:
		if m.ID != poison.ID || m.Type != poison.Type || string(m.Data) != string(poison.Data) || m.Subject != poison.Subject ||
			len(m.Metadata) != 2 || m.Metadata["traceparent"] != "00-abc" || m.Metadata[eventbus.MetaReplay] != e.ID+"#1" {
			t.Fatalf("replayed %+v, want the original %+v with the replay's mark", m, poison)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the replayed message was not handled")
	}
	if left, _ := store.List(ctx, dlq.Filter{}); len(left) != 0 {
		t.Fatalf("%d entries still listed as not replayed", len(left))
	}
	got, err := store.Get(ctx, e.ID)
	if err != nil || got.Replays != 1 || got.LastReplayAt.IsZero() {
		t.Fatalf("Get after replay = %+v, %v; want one replay", got, err)
	}
	if n, err := store.Delete(ctx, e.ID, "nope"); err != nil || n != 1 {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if _, err := store.Get(ctx, e.ID); !errors.Is(err, dlq.ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := store.Replay(ctx, bus, "nope"); !errors.Is(err, dlq.ErrNotFound) {
		t.Fatalf("Replay(unknown) = %v, want ErrNotFound", err)
	}
}

// publisherFunc is an eventbus.Publisher made of a function.
type publisherFunc func(ctx context.Context, msgs ...*eventbus.Message) error

func (f publisherFunc) Publish(ctx context.Context, msgs ...*eventbus.Message) error {
	return f(ctx, msgs...)
}

func (publisherFunc) Close(context.Context) error { return nil }

// The store's own times, in a testing/synctest bubble on SQLite: a dead
// letter is parked at its own time, or at the store's now when it has
// none, and a replay is recorded at the store's now.
func TestStoreTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store := openStore(t)
		start := time.Now().UTC()
		deadLetter := func(id, failedAt string) *eventbus.Message {
			m := &eventbus.Message{ID: id, Type: "deadletter.order.created", Data: []byte(`{}`), Metadata: map[string]string{
				eventbus.MetaDeadLetterOriginalType: "order.created", eventbus.MetaDeadLetterOriginalID: "o-" + id,
			}}
			if failedAt != "" {
				m.Metadata[eventbus.MetaDeadLetterTime] = failedAt
			}
			return m
		}
		earlier := start.Add(-time.Minute)
		for _, m := range []*eventbus.Message{
			deadLetter("dated", earlier.Format(time.RFC3339Nano)),
			deadLetter("undated", ""),
			deadLetter("garbled", "yesterday"),
		} {
			if err := store.Park(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		for id, want := range map[string]time.Time{"dated": earlier, "undated": start, "garbled": start} {
			if e, err := store.Get(ctx, id); err != nil || !e.ParkedAt.Equal(want) {
				t.Fatalf("%s: parked at %v (%v), want %v", id, e.ParkedAt, err, want)
			}
		}

		time.Sleep(time.Hour)
		var replayed []string
		pub := publisherFunc(func(_ context.Context, msgs ...*eventbus.Message) error {
			for _, m := range msgs {
				replayed = append(replayed, m.ID)
			}
			return nil
		})
		if err := store.Replay(ctx, pub, "dated"); err != nil {
			t.Fatal(err)
		}
		e, err := store.Get(ctx, "dated")
		if err != nil || e.Replays != 1 || !e.LastReplayAt.Equal(start.Add(time.Hour)) || !slices.Equal(replayed, []string{"o-dated"}) {
			t.Fatalf("after a replay an hour later: %+v, %v (published %v)", e, err, replayed)
		}
	})
}

func TestParkRejectsPlainMessages(t *testing.T) {
	store := openStore(t)
	err := store.Handler()(context.Background(), &eventbus.Message{ID: "1", Type: "deadletter.x"})
	if !errors.Is(err, dlq.ErrNotDeadLetter) || !retry.IsPermanent(err) {
		t.Fatalf("Handler(plain message) = %v, want a permanent ErrNotDeadLetter", err)
	}
	if _, err := dlq.Original(&eventbus.Message{ID: "1", Type: "x"}); !errors.Is(err, dlq.ErrNotDeadLetter) {
		t.Fatalf("Original(plain message) = %v", err)
	}
}

func TestInvalidOptions(t *testing.T) {
	db, _ := sql.Open("sqlite", ":memory:")
	defer db.Close()
	for name, opt := range map[string]dlq.Option{
		"bad table": dlq.WithTable("x; DROP"),
	} {
		if _, err := dlq.New(db, sqldialect.SQLite, opt); !errors.Is(err, dlq.ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := dlq.New(db, sqldialect.Dialect(0)); !errors.Is(err, dlq.ErrInvalidOption) {
		t.Errorf("unknown dialect accepted")
	}
}

// Every failure is an entry of its own: a redelivered copy of one dead
// letter changes nothing, and a dead letter whose ID collides with another
// failure's (a producer that derived it from the original's ID alone:
// another group, a replay that failed again) is kept beside it.
func TestParkKeepsEveryFailure(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			store := be.open(t)
			parked := func(group, reason string, at time.Time) *eventbus.Message {
				return &eventbus.Message{ID: "o1.deadletter", Type: "deadletter.order.created", Metadata: map[string]string{
					eventbus.MetaDeadLetterOriginalType: "order.created", eventbus.MetaDeadLetterOriginalID: "o1",
					eventbus.MetaDeadLetterReason: reason, eventbus.MetaDeadLetterAttempts: "3",
					eventbus.MetaDeadLetterGroup: group, eventbus.MetaDeadLetterHandler: "h",
					eventbus.MetaDeadLetterTime: at.Format(time.RFC3339Nano),
				}}
			}
			t1 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
			for _, m := range []*eventbus.Message{
				parked("billing", "first", t1), parked("billing", "first", t1), // one dead letter, delivered twice
				parked("shipping", "no address", t1),           // another group's
				parked("billing", "second", t1.Add(time.Hour)), // a replay that failed again
				parked("billing", "second", t1.Add(time.Hour)),
			} {
				if err := store.Park(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			got, err := store.List(ctx, dlq.Filter{OriginalID: "o1"})
			if err != nil {
				t.Fatal(err)
			}
			var reasons []string
			for _, e := range got {
				reasons = append(reasons, e.Group+": "+e.Reason)
			}
			if want := []string{"billing: first", "shipping: no address", "billing: second"}; !slices.Equal(reasons, want) {
				t.Fatalf("entries of o1: %q, want %q", reasons, want)
			}
			// Without a dead-letter time (a foreign producer) a redelivered
			// copy is still recognized as the same dead letter.
			untimed := parked("billing", "third", t1)
			untimed.ID, untimed.Metadata[eventbus.MetaDeadLetterOriginalID] = "o2.deadletter", "o2"
			delete(untimed.Metadata, eventbus.MetaDeadLetterTime)
			for range 2 {
				if err := store.Park(ctx, untimed.Clone()); err != nil {
					t.Fatal(err)
				}
			}
			if other, _ := store.List(ctx, dlq.Filter{OriginalID: "o2"}); len(other) != 1 {
				t.Fatalf("entries of o2 parked twice: %+v, want one", other)
			}
		})
	}
}

// TestEveryGroupsFailureIsReplayable runs DeadLetter in two groups that
// both reject one message: both failures are parked, listed and
// replayable, and a replay that fails again is parked as a new entry.
func TestEveryGroupsFailureIsReplayable(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	bus, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close(context.Background())
	collector, _ := eventbus.NewRouter(bus, "microkit-dlq", eventbus.WithLogger(slog.New(slog.DiscardHandler)))
	if err := collector.Handle(eventbus.DeadLetterPrefix+">", store.Handler()); err != nil {
		t.Fatal(err)
	}
	if err := collector.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer collector.Close(ctx)
	for _, group := range []string{"billing", "shipping"} {
		r, _ := eventbus.NewRouter(bus, group, eventbus.WithMiddleware(
			eventbus.DeadLetter(bus, eventbus.DeadLetterLogger(slog.New(slog.DiscardHandler)))))
		if err := r.Handle("order.created", func(context.Context, *eventbus.Message) error {
			return retry.Permanent(errors.New(group + " rejects it"))
		}); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer r.Close(ctx)
	}
	m, _ := eventbus.NewMessage("order.created", 1)
	if err := bus.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	entries := waitEntries(t, store, dlq.Filter{OriginalID: m.ID}, 2)
	groups := map[string]string{}
	for _, e := range entries {
		groups[e.Group] = e.Reason
	}
	if groups["billing"] != "billing rejects it" || groups["shipping"] != "shipping rejects it" {
		t.Fatalf("entries %+v, want one per group with its reason", entries)
	}
	// Replaying billing's entry sends the message to both groups again;
	// both fail again: two new entries, the replayed one kept as replayed.
	var billing dlq.Entry
	for _, e := range entries {
		if e.Group == "billing" {
			billing = e
		}
	}
	if err := store.Replay(ctx, bus, billing.ID); err != nil {
		t.Fatal(err)
	}
	all := waitEntries(t, store, dlq.Filter{OriginalID: m.ID, Replayed: true}, 4)
	ids := map[string]bool{}
	for _, e := range all {
		ids[e.ID] = true
	}
	if len(ids) != 4 {
		t.Fatalf("entries %+v, want 4 distinct", all)
	}
	if waiting, _ := store.List(ctx, dlq.Filter{OriginalID: m.ID}); len(waiting) != 3 {
		t.Fatalf("%d entries waiting, want 3 (all but the replayed one)", len(waiting))
	}
}

// waitEntries polls the store until f lists n entries.
func waitEntries(t *testing.T, store *dlq.Store, f dlq.Filter, n int) []dlq.Entry {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := store.List(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries of %d after 20s: %+v", len(got), n, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMigrateAddsIndexes runs Migrate on a table made without the
// listing indexes (the table and its single (parked_at) index): it adds
// them, drops the index they cover, keeps the entries, and can run again.
func TestMigrateAddsIndexes(t *testing.T) {
	for _, d := range []sqldialect.Dialect{sqldialect.SQLite, sqldialect.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			ctx := context.Background()
			db, _ := sqltest.Open(t, d, "dlq_migrate")
			blob := "BLOB"
			if d == sqldialect.Postgres {
				blob = "BYTEA"
			}
			for _, stmt := range []string{
				`CREATE TABLE dlq_old (id TEXT PRIMARY KEY, original_id TEXT NOT NULL, original_type TEXT NOT NULL,
	reason TEXT NOT NULL, attempts INTEGER NOT NULL, grp TEXT NOT NULL, handler TEXT NOT NULL, parked_at BIGINT NOT NULL,
	replays INTEGER NOT NULL DEFAULT 0, last_replay_at BIGINT, envelope ` + blob + ` NOT NULL)`,
				`CREATE INDEX dlq_old_parked ON dlq_old (parked_at)`,
			} {
				if _, err := db.ExecContext(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
			old, err := dlq.New(db, d, dlq.WithTable("dlq_old"))
			if err != nil {
				t.Fatal(err)
			}
			parkAll(t, old, parked{"o1.dl", "o1", "order.created", "billing", t0})
			store := migrated(t, db, d, dlq.WithTable("dlq_old"))
			want := []string{"dlq_old_id_bytes", "dlq_old_open_group", "dlq_old_open_time", "dlq_old_open_type", "dlq_old_original", "dlq_old_time"}
			q := "SELECT indexname FROM pg_indexes WHERE tablename = 'dlq_old' AND indexname <> 'dlq_old_pkey' ORDER BY indexname"
			if d == sqldialect.SQLite {
				want = slices.DeleteFunc(want, func(s string) bool { return s == "dlq_old_id_bytes" }) // the primary key's index serves
				q = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'dlq_old' AND sql IS NOT NULL ORDER BY name"
			}
			rows, err := db.QueryContext(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var name string
				if err := rows.Scan(&name); err != nil {
					t.Fatal(err)
				}
				got = append(got, name)
			}
			if !slices.Equal(got, want) {
				t.Errorf("indexes %q, want %q", got, want)
			}
			if e, err := store.List(ctx, dlq.Filter{Group: "billing", Newest: true}); err != nil || len(e) != 1 {
				t.Errorf("List after Migrate = %+v, %v; want the entry parked before", e, err)
			}
		})
	}
}
