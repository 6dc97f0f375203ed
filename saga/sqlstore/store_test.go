package sqlstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

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
			for name, want := range map[string]int{"microkit_sagas_status_idx": 0, "microkit_sagas_status_created_idx": 1, "microkit_sagas_name_idx": 1, "microkit_sagas_created_idx": 1} {
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
