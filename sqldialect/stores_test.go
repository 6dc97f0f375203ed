package sqldialect_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/eventbus/dlq"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/saga/sqlstore"
	"github.com/go-microkit/microkit/sqldialect"
)

// TestStoresRejectUnknownDialect: every SQL store's constructor and
// migration refuses a dialect other than Postgres and SQLite, before it
// touches the database, with an error that wraps the store's
// ErrInvalidOption and names the dialect it got.
func TestStoresRejectUnknownDialect(t *testing.T) {
	db := openSQLite(t, sqldialect.SQLiteDSN(filepath.Join(t.TempDir(), "stores.db")))
	bus, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close(context.Background()) })
	ctx := context.Background()
	for _, d := range []sqldialect.Dialect{0, 3} {
		for _, tc := range []struct {
			name    string
			call    func(*sql.DB, sqldialect.Dialect) error
			invalid error
		}{
			{"outbox.Migrate", func(db *sql.DB, d sqldialect.Dialect) error { return outbox.Migrate(ctx, db, d) }, outbox.ErrInvalidOption},
			{"outbox.NewRelay", func(db *sql.DB, d sqldialect.Dialect) error { _, err := outbox.NewRelay(db, d, bus); return err }, outbox.ErrInvalidOption},
			{"outbox.NewInbox", func(db *sql.DB, d sqldialect.Dialect) error { _, err := outbox.NewInbox(db, d); return err }, outbox.ErrInvalidOption},
			{"dlq.New", func(db *sql.DB, d sqldialect.Dialect) error { _, err := dlq.New(db, d); return err }, dlq.ErrInvalidOption},
			{"sqlstore.Migrate", func(db *sql.DB, d sqldialect.Dialect) error { return sqlstore.Migrate(ctx, db, d) }, sqlstore.ErrInvalidOption},
			{"sqlstore.Schema", func(_ *sql.DB, d sqldialect.Dialect) error { _, err := sqlstore.Schema(d); return err }, sqlstore.ErrInvalidOption},
			{"sqlstore.New", func(db *sql.DB, d sqldialect.Dialect) error { _, err := sqlstore.New(db, d); return err }, sqlstore.ErrInvalidOption},
		} {
			t.Run(tc.name+"/"+d.String(), func(t *testing.T) {
				err := tc.call(db, d)
				if !errors.Is(err, tc.invalid) {
					t.Fatalf("error %v, want one wrapping %v", err, tc.invalid)
				}
				if msg := err.Error(); !strings.Contains(msg, "unknown dialect "+d.String()) {
					t.Errorf("error %q does not name the dialect %v", msg, d)
				}
			})
		}
	}
	// Nothing was created: the stores checked the dialect first.
	var tables int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d tables created with an unknown dialect", tables)
	}
}
