package sqlbus_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/sqlbus"
	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/sqldialect"
)

// nothingMore fails if sub hands out a delivery within a short wait.
func nothingMore(t *testing.T, sub eventbus.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if d, err := sub.Next(ctx); err == nil {
		t.Errorf("unexpected delivery of %s (attempt %d)", d.Message().ID, d.Attempt())
	}
}

// TestLateCommit: a message whose transaction commits after a later
// publish's (its pack has the smaller transaction id, so the group's
// cursor cannot pass it while it runs) is delivered once it commits,
// although the group consumed the later one meanwhile; neither is
// delivered twice. PostgreSQL only: on SQLite a transaction that
// publishes holds the database's one write lock, so commits follow seq.
func TestLateCommit(t *testing.T) {
	db := open(t, sqldialect.Postgres)
	bus, sqlDB := db.connect(t, sqlbus.WithPollInterval(50*time.Millisecond), sqlbus.WithConfirmedAcks())
	ctx := testCtx(t)
	sub, err := bus.Subscribe(ctx, "late", "late.>")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	tx, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	a := newMsg("late.a")
	if err := bus.PublishTx(ctx, tx, a); err != nil {
		t.Fatal(err)
	}
	b := newMsg("late.b")
	if err := bus.Publish(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Message().ID != b.ID {
		t.Fatalf("got %s while A's transaction runs, want B", got.Message().Type)
	}
	if err := got.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// A later publish, consumed, moves nothing past A either.
	c := newMsg("late.c")
	if err := bus.Publish(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, err = sub.Next(ctx); err != nil || got.Message().ID != c.ID {
		t.Fatalf("Next = %v, %v; want C", got, err)
	}
	if err := got.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// Pruning while A runs keeps what A's commit will need.
	if _, err := bus.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, err = sub.Next(ctx); err != nil || got.Message().ID != a.ID {
		t.Fatalf("Next = %v, %v; want A, committed late", got, err)
	}
	if got.Attempt() != 1 {
		t.Errorf("A's attempt %d, want 1", got.Attempt())
	}
	if err := got.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	nothingMore(t, sub)
	// Everything is consumed: pruning empties the table, markers included.
	if _, err := bus.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	var packs, rows int
	if err := sqlDB.QueryRowContext(ctx, "SELECT count(*) FROM "+sqlbus.DefaultTable).Scan(&packs); err != nil {
		t.Fatal(err)
	}
	if err := sqlDB.QueryRowContext(ctx, "SELECT count(*) FROM "+sqlbus.DefaultTable+"_deliveries").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	// Another test's transaction on the shared server may still hold
	// the cursor before the packs: then they wait for it, with markers.
	if packs != 0 && rows == 0 {
		t.Errorf("%d packs left without their markers", packs)
	}
}

// TestClaimExpiresPartlyAcked: the messages of one publish are claimed
// together; when the claim's visibility timeout runs out with some of
// them acked, only the others are delivered again, with the next
// attempt, and the late consumer can settle none of them.
func TestClaimExpiresPartlyAcked(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			db := open(t, d)
			// As in TestVisibilityTimeout: the first instance claims once
			// and does not claim again by itself.
			one, _ := db.bus(t, sqlbus.WithAckWait(300*time.Millisecond), sqlbus.WithPollInterval(time.Minute), sqlbus.WithConfirmedAcks())
			two, _ := db.connect(t, sqlbus.WithAckWait(time.Minute), sqlbus.WithPollInterval(50*time.Millisecond), sqlbus.WithConfirmedAcks())
			ctx := testCtx(t)
			a, err := one.Subscribe(ctx, "workers", "job.part", eventbus.WithPrefetch(8))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			var msgs []*eventbus.Message
			for range 5 {
				msgs = append(msgs, newMsg("job.part"))
			}
			if err := one.Publish(ctx, msgs...); err != nil {
				t.Fatal(err)
			}
			batch, err := a.(eventbus.BatchSubscription).NextBatch(ctx, 5, time.Second)
			if err != nil || len(batch) != 5 {
				t.Fatalf("NextBatch = %d deliveries, %v; want 5", len(batch), err)
			}
			acked := map[string]bool{}
			for _, dl := range batch[:2] {
				if err := dl.Ack(ctx); err != nil {
					t.Fatal(err)
				}
				acked[dl.Message().ID] = true
			}
			b, err := two.Subscribe(ctx, "workers", "job.part")
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			again := map[string]bool{}
			for len(again) < 3 {
				dl, err := b.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				id := dl.Message().ID
				if acked[id] || again[id] {
					t.Fatalf("%s delivered again (acked %v)", id, acked[id])
				}
				if dl.Attempt() != 2 {
					t.Errorf("%s redelivered with attempt %d, want 2", id, dl.Attempt())
				}
				again[id] = true
				if len(again) == 3 {
					// The late consumer cannot settle what was claimed again.
					for _, old := range batch[2:] {
						if err := old.Ack(ctx); !errors.Is(err, eventbus.ErrStaleDelivery) {
							t.Errorf("late Ack = %v, want ErrStaleDelivery", err)
						}
					}
				}
				if err := dl.Ack(ctx); err != nil {
					t.Errorf("Ack of the current claim: %v", err)
				}
			}
			nothingMore(t, b)
		})
	}
}

// TestNackOutOfAClaim: a message nacked out of the claim of its publish
// comes back alone, with its own attempt count, while the others of the
// claim are acked.
func TestNackOutOfAClaim(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			bus, _ := open(t, d).connect(t, sqlbus.WithConfirmedAcks())
			ctx := testCtx(t)
			sub, err := bus.Subscribe(ctx, "g", "nack.>", eventbus.WithPrefetch(4))
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if err := bus.Publish(ctx, newMsg("nack.a"), newMsg("nack.b"), newMsg("nack.c")); err != nil {
				t.Fatal(err)
			}
			attempts := map[string][]int{}
			for done := 0; done < 3; {
				dl, err := sub.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				typ := dl.Message().Type
				attempts[typ] = append(attempts[typ], dl.Attempt())
				if typ == "nack.b" && dl.Attempt() < 3 {
					if err := dl.Nack(ctx, 0); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := dl.Ack(ctx); err != nil {
					t.Fatal(err)
				}
				done++
			}
			if got := attempts["nack.b"]; len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
				t.Errorf("nack.b attempts %v, want [1 2 3]", got)
			}
			for _, typ := range []string{"nack.a", "nack.c"} {
				if got := attempts[typ]; len(got) != 1 || got[0] != 1 {
					t.Errorf("%s attempts %v, want [1]", typ, got)
				}
			}
			nothingMore(t, sub)
		})
	}
}

// unpackedSchema is the layout of sqlbus before packs: a row per message,
// a delivery row per message and group.
func unpackedSchema(d sqldialect.Dialect) []string {
	serial, blob := "INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"
	if d == sqldialect.Postgres {
		serial, blob = "BIGSERIAL PRIMARY KEY", "BYTEA"
	}
	return []string{
		`CREATE TABLE microkit_bus (seq ` + serial + `, id TEXT NOT NULL, type TEXT NOT NULL, source TEXT NOT NULL,
	subject TEXT NOT NULL, event_time BIGINT NOT NULL, content_type TEXT NOT NULL, data ` + blob + ` NOT NULL,
	metadata TEXT NOT NULL, created_at BIGINT NOT NULL)`,
		`CREATE TABLE microkit_bus_groups (id ` + serial + `, name TEXT NOT NULL, pattern TEXT NOT NULL, type_like TEXT NOT NULL,
	min_dots INTEGER NOT NULL, max_dots INTEGER NOT NULL, created_at BIGINT NOT NULL, UNIQUE (name, pattern))`,
		`CREATE TABLE microkit_bus_deliveries (group_id BIGINT NOT NULL, seq BIGINT NOT NULL, attempts INTEGER NOT NULL,
	visible_at BIGINT NOT NULL, PRIMARY KEY (group_id, seq))`,
	}
}

// TestMigrateUnpackedLayout: Migrate converts the tables of the layout
// before packs: what a group had consumed stays consumed, what it had
// not comes with its attempts, and new messages follow.
func TestMigrateUnpackedLayout(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			raw, dsn := sqltest.Open(t, d, "sqlbus")
			ctx := testCtx(t)
			for _, stmt := range unpackedSchema(d) {
				if _, err := raw.ExecContext(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
			for _, stmt := range []string{
				`INSERT INTO microkit_bus_groups (name, pattern, type_like, min_dots, max_dots, created_at) VALUES ('g', 'old.>', 'old.%', 1, 255, 0)`,
				`INSERT INTO microkit_bus (id, type, source, subject, event_time, content_type, data, metadata, created_at) VALUES
	('consumed', 'old.a', '', '', 0, '', '', '', 0), ('waiting', 'old.b', 'src', 'sub', 5, 'application/json', '{}', '{"k":"v"}', 0),
	('claimed', 'old.c', '', '', 0, '', '', '', 0), ('consumed-last', 'old.d', '', '', 0, '', '', '', 0)`,
				`INSERT INTO microkit_bus_deliveries (group_id, seq, attempts, visible_at) VALUES (1, 2, 0, 0), (1, 3, 1, 1)`,
			} {
				if _, err := raw.ExecContext(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
			migrate(t, raw, d)
			migrate(t, raw, d) // again: the tables are current now
			bus, _ := database{d, dsn}.connect(t, sqlbus.WithRetention(0, 0))
			sub, err := bus.Subscribe(ctx, "g", "old.>")
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if err := bus.Publish(ctx, &eventbus.Message{ID: "new", Type: "old.e"}); err != nil {
				t.Fatal(err)
			}
			want := map[string]int{"waiting": 1, "claimed": 2, "new": 1}
			for len(want) > 0 {
				dl, err := sub.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				m := dl.Message()
				attempt, ok := want[m.ID]
				if !ok {
					t.Fatalf("delivered %s, want one of %v", m.ID, want)
				}
				if dl.Attempt() != attempt {
					t.Errorf("%s: attempt %d, want %d", m.ID, dl.Attempt(), attempt)
				}
				if m.ID == "waiting" && (m.Source != "src" || m.Subject != "sub" || m.Metadata["k"] != "v" || string(m.Data) != "{}") {
					t.Errorf("converted message %+v", m)
				}
				delete(want, m.ID)
				if err := dl.Ack(ctx); err != nil {
					t.Fatal(err)
				}
			}
			nothingMore(t, sub)
		})
	}
}

// TestMigrateConcurrently: processes starting together all migrate.
func TestMigrateConcurrently(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			_, dsn := sqltest.Open(t, d, "sqlbus")
			errs := make(chan error, 3)
			for range 3 {
				go func() {
					db, err := sqldb.Open(d, dsn)
					if err != nil {
						errs <- err
						return
					}
					defer db.Close()
					errs <- sqlbus.Migrate(context.Background(), db, d)
				}()
			}
			for range 3 {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestRenewedDeliveryAcked: a delivery whose visibility timeout ran out
// while it waited in the prefetch is renewed when a worker takes it (in a
// row of its own), and its Ack then settles it: it is not redelivered.
func TestRenewedDeliveryAcked(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			// Eight messages in one pack, a prefetch of eight: handing out
			// two leaves more than half queued, so the subscription claims
			// nothing by itself, and polls rarely.
			bus, _ := open(t, d).bus(t, sqlbus.WithAckWait(300*time.Millisecond), sqlbus.WithPollInterval(time.Minute), sqlbus.WithConfirmedAcks())
			ctx := testCtx(t)
			sub, err := bus.Subscribe(ctx, "g", "renew.me", eventbus.WithPrefetch(8))
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			var msgs []*eventbus.Message
			for range 8 {
				msgs = append(msgs, newMsg("renew.me"))
			}
			if err := bus.Publish(ctx, msgs...); err != nil {
				t.Fatal(err)
			}
			first, err := sub.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := first.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(400 * time.Millisecond) // the claim's visibility timeout runs out
			second, err := sub.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if second.Attempt() != 1 {
				t.Errorf("renewed delivery's attempt %d, want 1", second.Attempt())
			}
			if err := second.Ack(ctx); err != nil {
				t.Fatalf("Ack of the renewed delivery: %v", err)
			}
		})
	}
}

// warnings counts the records at level Warn or above.
type warnings struct{ n atomic.Int64 }

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		w.n.Add(1)
	}
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

// TestDeleteGroupWhileSubscribed: a subscription whose group was deleted
// claims nothing, without failing.
func TestDeleteGroupWhileSubscribed(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			w := &warnings{}
			bus, _ := open(t, d).bus(t, sqlbus.WithLogger(slog.New(w)), sqlbus.WithPollInterval(20*time.Millisecond))
			ctx := testCtx(t)
			sub, err := bus.Subscribe(ctx, "gone", "gone.>")
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if err := bus.DeleteGroup(ctx, "gone", "gone.>"); err != nil {
				t.Fatal(err)
			}
			if err := bus.Publish(ctx, newMsg("gone.x")); err != nil {
				t.Fatal(err)
			}
			nothingMore(t, sub) // a few polls
			if n := w.n.Load(); n != 0 {
				t.Errorf("%d warnings logged, want none", n)
			}
		})
	}
}
