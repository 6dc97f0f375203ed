package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/saga/sqlstore"
	"github.com/go-microkit/microkit/sqldialect"
)

// database is a fresh, migrated saga database of one dialect.
type database struct {
	dialect sqldialect.Dialect
	driver  string
	dsn     string
	db      *sql.DB
}

// backends are the databases to test against: SQLite always, and
// PostgreSQL through MICROKIT_POSTGRES_URL.
var backends = sqltest.Backends(openFresh)

// openSQLite returns a migrated SQLite database in a temporary file.
func openSQLite(t testing.TB) *database { return openFresh(t, sqldialect.SQLite) }

// openFresh returns a migrated database of dialect d: a temporary SQLite
// file, or a fresh PostgreSQL schema dropped when the test ends (tests of
// other packages share the database).
func openFresh(t testing.TB, d sqldialect.Dialect) *database {
	t.Helper()
	db, dsn := sqltest.Open(t, d, "saga_test")
	return migrated(t, &database{dialect: d, driver: sqldb.Driver(d), dsn: dsn, db: db})
}

// migrated migrates d.db.
func migrated(t testing.TB, d *database) *database {
	t.Helper()
	if err := sqlstore.Migrate(context.Background(), d.db, d.dialect); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *database) store(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(d.db, d.dialect)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
