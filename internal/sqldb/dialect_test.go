package sqldb_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/go-microkit/microkit/internal/sqldb"
	_ "modernc.org/sqlite"
)

func TestDialect(t *testing.T) {
	for _, tc := range []struct {
		d      sqldb.Dialect
		name   string
		valid  bool
		driver string
		blob   string
		p3     string
		ps     string // Placeholders(2, 3)
	}{
		{sqldb.Postgres, "postgres", true, "pgx", "BYTEA", "$3", "$2, $3, $4"},
		{sqldb.SQLite, "sqlite", true, "sqlite", "BLOB", "?", "?, ?, ?"},
		{0, "Dialect(0)", false, "", "BLOB", "?", "?, ?, ?"},
		{9, "Dialect(9)", false, "", "BLOB", "?", "?, ?, ?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.d.String(); got != tc.name {
				t.Errorf("String() = %q, want %q", got, tc.name)
			}
			if got := tc.d.Valid(); got != tc.valid {
				t.Errorf("Valid() = %v, want %v", got, tc.valid)
			}
			if got := tc.d.Driver(); got != tc.driver {
				t.Errorf("Driver() = %q, want %q", got, tc.driver)
			}
			if got := tc.d.BlobType(); got != tc.blob {
				t.Errorf("BlobType() = %q, want %q", got, tc.blob)
			}
			if got := tc.d.Placeholder(3); got != tc.p3 {
				t.Errorf("Placeholder(3) = %q, want %q", got, tc.p3)
			}
			if got := tc.d.Placeholders(2, 3); got != tc.ps {
				t.Errorf("Placeholders(2, 3) = %q, want %q", got, tc.ps)
			}
			if got := tc.d.Placeholders(1, 0); got != "" {
				t.Errorf("Placeholders(1, 0) = %q, want empty", got)
			}
		})
	}
}

func TestParams(t *testing.T) {
	for _, tc := range []struct {
		first, n int
		want     string
	}{
		{1, 0, ""},
		{1, 1, "$1"},
		{2, 3, "$2, $3, $4"},
		{9, 2, "$9, $10"},
	} {
		if got := sqldb.Params(tc.first, tc.n); got != tc.want {
			t.Errorf("Params(%d, %d) = %q, want %q", tc.first, tc.n, got, tc.want)
		}
	}
	if got := sqldb.Param(12); got != "$12" {
		t.Errorf("Param(12) = %q, want $12", got)
	}
}

func TestSQLiteDSN(t *testing.T) {
	want := "file:/data/x.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	if got := sqldb.SQLiteDSN("/data/x.db"); got != want {
		t.Errorf("SQLiteDSN = %q, want %q", got, want)
	}
}

// TestOpenSQLite opens a file through SQLiteDSN and checks that the
// pragmas took effect, and that numbered parameters work on SQLite.
func TestOpenSQLite(t *testing.T) {
	db, err := sqldb.Open(sqldb.SQLite, sqldb.SQLiteDSN(filepath.Join(t.TempDir(), "x.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"busy_timeout", "10000"},
		{"synchronous", "2"}, // FULL
	} {
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
	var sum int
	if err := db.QueryRowContext(ctx, "SELECT "+sqldb.Param(1)+" + "+sqldb.Param(2), 2, 3).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != 5 {
		t.Errorf("$1 + $2 = %d, want 5", sum)
	}
}

func TestOpenUnknownDialect(t *testing.T) {
	if db, err := sqldb.Open(0, "x"); err == nil {
		db.Close()
		t.Error("Open(Dialect(0)) succeeded, want an error")
	}
}
