package sqlstore_test

import (
	"context"
	"errors"
	"testing"

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

func TestMigrateIsIdempotent(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			d := b.Open(t) // migrated once already
			if err := sqlstore.Migrate(context.Background(), d.db, d.dialect); err != nil {
				t.Fatalf("second Migrate: %v", err)
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
