package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/go-microkit/microkit/sqldialect"
	// Registers the "pgx" database/sql driver.
	_ "github.com/jackc/pgx/v5/stdlib"
	// Registers the "sqlite" database/sql driver.
	_ "modernc.org/sqlite"
)

// PostgresEnv is the variable that holds the URL of the test PostgreSQL
// database.
const PostgresEnv = "MICROKIT_POSTGRES_URL"

// SQLiteFile returns the [sqldialect.SQLiteDSN] of the file name in a new
// temporary directory, removed when the test ends.
func SQLiteFile(t testing.TB, name string) string {
	t.Helper()
	return sqldialect.SQLiteDSN(filepath.Join(t.TempDir(), name))
}

// PostgresSchema creates the schema prefix_<12 random letters and digits>
// in the database at [PostgresEnv] (the test is skipped, or failed in CI,
// when it is unset; see testenv.Addr), drops it with everything in it when
// the test ends, and returns a DSN whose search_path is that schema, and
// the schema's name. prefix must be a lower-case SQL identifier.
func PostgresSchema(t testing.TB, prefix string) (dsn, schema string) {
	t.Helper()
	base := testenv.Addr(t, PostgresEnv)
	schema = prefix + "_" + strings.ToLower(rand.Text()[:12])
	if err := (sqldb.IdentRule{LowerOnly: true}).Check(schema); err != nil {
		t.Fatalf("sqltest: schema prefix: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("sqltest: %s: %v", PostgresEnv, err)
	}
	if err := adminExec(base, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("sqltest: %v", err)
	}
	t.Cleanup(func() {
		if err := adminExec(base, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("sqltest: %v", err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema
}

// adminExec runs stmt on a connection of its own to the base database:
// the test's own connections may be closed or busy by then.
func adminExec(base, stmt string) error {
	db, err := sql.Open("pgx", base)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

// DSN returns the DSN of a fresh, empty database of dialect d:
// SQLiteFile(t, name+".db") or PostgresSchema(t, name).
func DSN(t testing.TB, d sqldialect.Dialect, name string) string {
	t.Helper()
	switch d {
	case sqldialect.SQLite:
		return SQLiteFile(t, name+".db")
	case sqldialect.Postgres:
		dsn, _ := PostgresSchema(t, name)
		return dsn
	}
	t.Fatalf("sqltest: unknown dialect %v", d)
	return ""
}

// Open opens a fresh, empty database of dialect d (see [DSN]), closed
// when the test ends, and returns it with its DSN (for a child process or
// a second connection pool).
func Open(t testing.TB, d sqldialect.Dialect, name string) (*sql.DB, string) {
	t.Helper()
	dsn := DSN(t, d, name)
	db, err := sqldb.Open(d, dsn)
	if err != nil {
		t.Fatalf("sqltest: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, dsn
}

// Backend is a database that a package's tests run against: its name, for
// t.Run, and the function that opens a fresh one as the package's fixture.
type Backend[T any] struct {
	// Name is the dialect's name: "sqlite" or "postgres".
	Name string
	// Open opens a fresh database for the test.
	Open func(t testing.TB) T
}

// Backends returns the backends every test of a database adapter runs
// against, SQLite then PostgreSQL, each opened by open (which typically
// calls [Open] and migrates). The PostgreSQL one is skipped, or failed in
// CI, when [PostgresEnv] is unset.
func Backends[T any](open func(t testing.TB, d sqldialect.Dialect) T) []Backend[T] {
	var out []Backend[T]
	for _, d := range []sqldialect.Dialect{sqldialect.SQLite, sqldialect.Postgres} {
		out = append(out, Backend[T]{Name: d.String(), Open: func(t testing.TB) T {
			t.Helper()
			return open(t, d)
		}})
	}
	return out
}
