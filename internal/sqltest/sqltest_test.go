package sqltest_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/go-microkit/microkit/sqldialect"
)

// TestOpen writes a row into a fresh database of each dialect, and checks
// that a second fresh database does not see it.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	for _, d := range []sqldialect.Dialect{sqldialect.SQLite, sqldialect.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			db, dsn := sqltest.Open(t, d, "sqltest_open")
			if dsn == "" {
				t.Fatal("empty DSN")
			}
			if _, err := db.ExecContext(ctx, "CREATE TABLE items (id TEXT PRIMARY KEY)"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO items (id) VALUES ("+sqldb.Placeholder(d, 1)+")", "a"); err != nil {
				t.Fatal(err)
			}
			other, _ := sqltest.Open(t, d, "sqltest_open")
			// A fresh database has no items table: the CREATE succeeds.
			if _, err := other.ExecContext(ctx, "CREATE TABLE items (id TEXT PRIMARY KEY)"); err != nil {
				t.Errorf("second database is not fresh: %v", err)
			}
		})
	}
}

func TestSQLiteFile(t *testing.T) {
	dsn := sqltest.SQLiteFile(t, "x.db")
	if !strings.HasPrefix(dsn, "file:") || !strings.Contains(dsn, "x.db?") || !strings.Contains(dsn, "synchronous(FULL)") {
		t.Errorf("SQLiteFile = %q, want a tuned DSN of x.db", dsn)
	}
}

// TestPostgresSchemaDropped checks that the schema exists during the test,
// holds the tables created through the DSN, and is gone after it.
func TestPostgresSchemaDropped(t *testing.T) {
	base := testenv.Addr(t, sqltest.PostgresEnv)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx := context.Background()
	exists := func(t *testing.T, schema string) bool {
		t.Helper()
		var n int
		if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'items'", schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	var schema string
	t.Run("inner", func(t *testing.T) {
		var dsn string
		dsn, schema = sqltest.PostgresSchema(t, "sqltest_drop")
		if !strings.HasPrefix(schema, "sqltest_drop_") || !strings.Contains(dsn, "search_path="+schema) {
			t.Fatalf("schema %q, DSN %q", schema, dsn)
		}
		db, err := sqldb.Open(sqldialect.Postgres, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "CREATE TABLE items (id TEXT)"); err != nil {
			t.Fatal(err)
		}
		if !exists(t, schema) {
			t.Errorf("table not created in schema %s", schema)
		}
	})
	if exists(t, schema) {
		t.Errorf("schema %s still has its table after the test", schema)
	}
	var n int
	if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("schema %s not dropped", schema)
	}
}

func TestBackends(t *testing.T) {
	type fixture struct {
		dialect sqldialect.Dialect
		db      *sql.DB
	}
	backends := sqltest.Backends(func(t testing.TB, d sqldialect.Dialect) fixture {
		db, _ := sqltest.Open(t, d, "sqltest_backends")
		return fixture{d, db}
	})
	var names []string
	for _, be := range backends {
		names = append(names, be.Name)
		t.Run(be.Name, func(t *testing.T) {
			f := be.Open(t)
			if f.dialect.String() != be.Name {
				t.Errorf("backend %s opened a %v database", be.Name, f.dialect)
			}
			if err := f.db.PingContext(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	if got := strings.Join(names, ","); got != "sqlite,postgres" {
		t.Errorf("backends %s, want sqlite,postgres", got)
	}
}
