package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagatest"
	"github.com/go-microkit/microkit/saga/sqlstore"
	"github.com/go-microkit/microkit/sqldialect"
)

func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			sagatest.Run(t, func(t *testing.T) saga.Store { return b.Open(t).store(t) })
		})
	}
}

// TestConformanceIDCollation runs the suite on PostgreSQL over a table
// whose id column has a linguistic collation instead of Schema's "C": the
// store must list the same records in the same order (ICU's root
// collation orders "a&" before "a%", and punctuation before digits).
func TestConformanceIDCollation(t *testing.T) {
	sagatest.Run(t, func(t *testing.T) saga.Store {
		db, _ := sqltest.Open(t, sqldialect.Postgres, "saga_test")
		stmts, err := sqlstore.Schema(sqldialect.Postgres)
		if err != nil {
			t.Fatal(err)
		}
		for i, stmt := range stmts {
			if i == 0 {
				if !strings.Contains(stmt, `COLLATE "C"`) {
					t.Fatalf("the table's id is not collated \"C\": %s", stmt)
				}
				stmt = strings.Replace(stmt, `COLLATE "C"`, `COLLATE "und-x-icu"`, 1)
			}
			if _, err := db.ExecContext(context.Background(), stmt); err != nil {
				t.Fatal(err)
			}
		}
		return (&database{dialect: sqldialect.Postgres, db: db}).store(t)
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			d := b.Open(t) // migrated once already
			// A narrower index on status than Schema's, which Migrate drops.
			if _, err := d.db.ExecContext(context.Background(), "CREATE INDEX microkit_sagas_status_idx ON microkit_sagas (status, created_at)"); err != nil {
				t.Fatal(err)
			}
			if err := sqlstore.Migrate(context.Background(), d.db, d.dialect); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			indexes := "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = $1"
			if d.dialect == sqldialect.Postgres {
				indexes = "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1"
			}
			for name, want := range map[string]int{"microkit_sagas_wait_key_idx": 1, "microkit_sagas_wake_idx": 1, "microkit_sagas_signals_created_idx": 1, "microkit_sagas_signals_pending_idx": 1, "microkit_sagas_status_idx": 0, "microkit_sagas_status_created_idx": 1, "microkit_sagas_name_idx": 1, "microkit_sagas_created_idx": 1} {
				var n int
				if err := d.db.QueryRowContext(context.Background(), indexes, name).Scan(&n); err != nil || n != want {
					t.Errorf("index %s: %d of it, %v; want %d", name, n, err, want)
				}
			}
			if err := sqlstore.Migrate(context.Background(), d.db, d.dialect, sqlstore.WithTable("other_sagas")); err != nil {
				t.Fatal(err)
			}
			s, err := sqlstore.New(d.db, d.dialect, sqlstore.WithTable("other_sagas"))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Create(context.Background(), &saga.Record{ID: "x", Name: "n", Status: saga.StatusRunning}); err != nil {
				t.Fatal(err)
			}
			if _, err := d.store(t).Get(context.Background(), "x"); !errors.Is(err, saga.ErrNotFound) {
				t.Errorf("the default table sees the other table's record: %v", err)
			}
		})
	}
}

func TestInvalidOptions(t *testing.T) {
	d := openSQLite(t)
	for _, name := range []string{"", "drop table x;", "1abc", "a.b", "ümlaut"} {
		if _, err := sqlstore.New(d.db, sqldialect.SQLite, sqlstore.WithTable(name)); !errors.Is(err, sqlstore.ErrInvalidOption) {
			t.Errorf("WithTable(%q) = %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := sqlstore.New(d.db, sqldialect.Dialect(9)); !errors.Is(err, sqlstore.ErrInvalidOption) {
		t.Errorf("unknown dialect = %v", err)
	}
	if _, err := sqlstore.New(nil, sqldialect.SQLite); !errors.Is(err, sqlstore.ErrInvalidOption) {
		t.Errorf("nil db = %v", err)
	}
	if err := sqlstore.Migrate(context.Background(), d.db, 0); !errors.Is(err, sqlstore.ErrInvalidOption) {
		t.Errorf("Migrate with no dialect = %v", err)
	}
}

// TestMigrateAddsWaitColumns migrates a table created before the columns
// of waiting sagas, with a saga in it: Migrate adds them, with their
// indexes and the signals table, and the saga reads back.
func TestMigrateAddsWaitColumns(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			db, dialect := olderTables(t, b.Name, func(blob string) []string {
				return []string{
					`CREATE TABLE microkit_sagas (id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, version BIGINT NOT NULL,
					state ` + blob + ` NOT NULL, steps TEXT NOT NULL, owner TEXT NOT NULL, lease_until BIGINT NOT NULL, deadline BIGINT NOT NULL,
					error TEXT NOT NULL, note TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`,
					`INSERT INTO microkit_sagas VALUES ('old', 'order', 'running', 3, '{}', '[{"n":"a","s":"done"}]', 'node', 0, 0, '', '', 1, 2)`,
				}
			})
			ctx := context.Background()
			for range 2 { // idempotent
				if err := sqlstore.Migrate(ctx, db, dialect); err != nil {
					t.Fatal(err)
				}
			}
			s, err := sqlstore.New(db, dialect)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := s.Get(ctx, "old")
			if err != nil || rec.Version != 3 || rec.WaitKey != "" || !rec.WakeAt.IsZero() {
				t.Fatalf("the saga from before = %+v, %v", rec, err)
			}
			rec.Status, rec.WaitKey, rec.WakeAt = saga.StatusWaiting, "k", time.Unix(10, 0)
			if err := s.Update(ctx, rec); err != nil {
				t.Fatal(err)
			}
			if got, err := s.List(ctx, saga.Filter{WaitKey: "k", DueBy: time.Unix(10, 0)}); err != nil || len(got) != 1 {
				t.Errorf("List by key and due time = %d records, %v", len(got), err)
			}
			if _, _, err := s.PutSignal(ctx, &saga.Signal{Key: "k"}); err != nil {
				t.Errorf("PutSignal: %v", err)
			}
		})
	}
}

// TestMigrateMarksWaitingSagas migrates a signals table created before the
// waiters' marks, with a saga parked without one and a pending signal of
// another key: Migrate adds the waiter column and the saga's mark, so that
// its signal finds it, and the pending signal stays a signal. It writes
// the marks once, not at every start-up.
func TestMigrateMarksWaitingSagas(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			db, dialect := olderTables(t, b.Name, func(blob string) []string {
				return []string{
					`CREATE TABLE microkit_sagas (id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, version BIGINT NOT NULL,
					state ` + blob + ` NOT NULL, steps TEXT NOT NULL, owner TEXT NOT NULL, lease_until BIGINT NOT NULL, deadline BIGINT NOT NULL,
					error TEXT NOT NULL, note TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
					wait_key TEXT NOT NULL DEFAULT '', wake_at BIGINT NOT NULL DEFAULT 0)`,
					`CREATE TABLE microkit_sagas_signals (key TEXT PRIMARY KEY, type TEXT NOT NULL, payload ` + blob + ` NOT NULL,
					saga_id TEXT NOT NULL, timed_out BIGINT NOT NULL, created_at BIGINT NOT NULL)`,
					`INSERT INTO microkit_sagas VALUES ('parked', 'order', 'waiting', 4, '{}', '[{"n":"pay","s":"waiting"}]', '', 0, 0, '', '', 1, 2, 'pay-parked', 0)`,
					`INSERT INTO microkit_sagas VALUES ('early', 'order', 'running', 2, '{}', '[{"n":"pay","s":"running"}]', 'node', 0, 0, '', '', 1, 2, '', 0)`,
					`INSERT INTO microkit_sagas_signals VALUES ('pay-early', 'paid', '', '', 0, 5)`,
				}
			})
			ctx := context.Background()
			for range 2 { // idempotent
				if err := sqlstore.Migrate(ctx, db, dialect); err != nil {
					t.Fatal(err)
				}
			}
			s, err := sqlstore.New(db, dialect)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetSignal(ctx, "pay-parked"); !errors.Is(err, saga.ErrNotFound) {
				t.Errorf("GetSignal of the parked saga's key = %v, want ErrNotFound: a mark is no signal", err)
			}
			_, created, waiter, err := s.Deliver(ctx, &saga.Signal{Key: "pay-parked", Type: "paid", CreatedAt: time.Unix(0, 6)})
			if err != nil || !created || waiter == nil || waiter.ID != "parked" || waiter.Version != 4 {
				t.Errorf("Deliver to the saga parked before = created %v, waiter %+v, %v; want it found", created, waiter, err)
			}
			// A saga parked without a mark once the column is there (by a
			// process of an older version) gets none from a later Migrate,
			// which writes the marks once.
			if _, err := db.ExecContext(ctx, `INSERT INTO microkit_sagas VALUES ('later', 'order', 'waiting', 4, '{}', '[]', '', 0, 0, '', '', 1, 2, 'pay-later', 0)`); err != nil {
				t.Fatal(err)
			}
			if err := sqlstore.Migrate(ctx, db, dialect); err != nil {
				t.Fatal(err)
			}
			if _, _, waiter, err := s.Deliver(ctx, &saga.Signal{Key: "pay-later", Type: "paid", CreatedAt: time.Unix(0, 7)}); err != nil || waiter != nil {
				t.Errorf("Deliver to a saga parked after the marks' Migrate = waiter %+v, %v; want none: no look at every waiting saga", waiter, err)
			}
			rec, err := s.Get(ctx, "early")
			if err != nil {
				t.Fatal(err)
			}
			rec.Status, rec.WaitKey = saga.StatusWaiting, "pay-early"
			sig, err := s.Park(ctx, rec)
			if err != nil || sig == nil || sig.Type != "paid" || sig.SagaID != "" || sig.TimedOut {
				t.Errorf("Park on the key of the pending signal = %+v, %v; want that signal", sig, err)
			}
		})
	}
}

// olderTables returns a fresh database of the backend named name on which
// stmts ran: the tables and rows of an older version of the store, given
// the dialect's blob type.
func olderTables(t *testing.T, name string, stmts func(blob string) []string) (*sql.DB, sqldialect.Dialect) {
	t.Helper()
	dialect, err := sqldialect.Parse(name)
	if err != nil {
		t.Fatal(err)
	}
	db, _ := sqltest.Open(t, dialect, "saga_test")
	blob := "BYTEA"
	if dialect == sqldialect.SQLite {
		blob = "BLOB"
	}
	for _, stmt := range stmts(blob) {
		if _, err := db.ExecContext(context.Background(), stmt); err != nil {
			t.Fatal(err)
		}
	}
	return db, dialect
}
