package sqlbus_test

import (
	"context"
	"database/sql"
	"log/slog"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/outbox/pgnotify"
	"github.com/go-microkit/microkit/eventbus/sqlbus"
	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/sqldialect"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// database is a migrated database that instances (processes) connect to.
type database struct {
	dialect sqldialect.Dialect
	dsn     string
}

// open returns a fresh migrated database of dialect d.
func open(t testing.TB, d sqldialect.Dialect) database {
	t.Helper()
	db, dsn := sqltest.Open(t, d, "sqlbus")
	migrate(t, db, d)
	return database{d, dsn}
}

func migrate(t testing.TB, db *sql.DB, d sqldialect.Dialect, opts ...sqlbus.Option) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sqlbus.Migrate(ctx, db, d, opts...); err != nil {
		t.Fatal(err)
	}
}

// connect opens a connection pool of its own and a bus on it, as one
// process would, with a pgnotify.Listener as its Waker on PostgreSQL; all
// are closed when the test ends.
func (d database) connect(t testing.TB, opts ...sqlbus.Option) (*sqlbus.Bus, *sql.DB) {
	t.Helper()
	return d.open(t, true, opts...)
}

// bus is connect without a Waker.
func (d database) bus(t testing.TB, opts ...sqlbus.Option) (*sqlbus.Bus, *sql.DB) {
	t.Helper()
	return d.open(t, false, opts...)
}

func (d database) open(t testing.TB, listen bool, opts ...sqlbus.Option) (*sqlbus.Bus, *sql.DB) {
	t.Helper()
	db, err := sqldb.Open(d.dialect, d.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	sqldialect.SetPoolSize(db, 8)
	opts = append([]sqlbus.Option{sqlbus.WithLogger(quiet())}, opts...)
	if listen && d.dialect == sqldialect.Postgres {
		// Channels are per database, not per schema: tests that share the
		// table's name wake each other now and then, which costs a claim.
		l := pgnotify.New(db, sqlbus.DefaultTable)
		t.Cleanup(func() { _ = l.Close(context.Background()) }) // after the bus's Close
		opts = append(opts, sqlbus.WithWaker(l))
	}
	b, err := sqlbus.New(db, d.dialect, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b, db
}

// dialects are the databases the tests run against.
var dialects = []sqldialect.Dialect{sqldialect.Postgres, sqldialect.SQLite}
