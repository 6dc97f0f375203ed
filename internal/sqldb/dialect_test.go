package sqldb_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/sqldialect"
	_ "modernc.org/sqlite"
)

func TestDialect(t *testing.T) {
	for _, tc := range []struct {
		d      sqldialect.Dialect
		valid  bool
		driver string
		blob   string
		p3     string
		ps     string // Placeholders(2, 3)
	}{
		{sqldialect.Postgres, true, "pgx", "BYTEA", "$3", "$2, $3, $4"},
		{sqldialect.SQLite, true, "sqlite", "BLOB", "?", "?, ?, ?"},
		{0, false, "", "BLOB", "?", "?, ?, ?"},
		{9, false, "", "BLOB", "?", "?, ?, ?"},
	} {
		t.Run(tc.d.String(), func(t *testing.T) {
			if err := sqldb.Check(tc.d); (err == nil) != tc.valid {
				t.Errorf("Check() = %v, want valid %v", err, tc.valid)
			}
			if got := sqldb.Driver(tc.d); got != tc.driver {
				t.Errorf("Driver() = %q, want %q", got, tc.driver)
			}
			if got := sqldb.BlobType(tc.d); got != tc.blob {
				t.Errorf("BlobType() = %q, want %q", got, tc.blob)
			}
			if got := sqldb.Placeholder(tc.d, 3); got != tc.p3 {
				t.Errorf("Placeholder(3) = %q, want %q", got, tc.p3)
			}
			if got := sqldb.Placeholders(tc.d, 2, 3); got != tc.ps {
				t.Errorf("Placeholders(2, 3) = %q, want %q", got, tc.ps)
			}
			if got := sqldb.Placeholders(tc.d, 1, 0); got != "" {
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

// TestOpenSQLite checks that numbered parameters work on SQLite.
func TestOpenSQLite(t *testing.T) {
	db, err := sqldb.Open(sqldialect.SQLite, sqldialect.SQLiteDSN(filepath.Join(t.TempDir(), "x.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sum int
	if err := db.QueryRowContext(context.Background(), "SELECT "+sqldb.Param(1)+" + "+sqldb.Param(2), 2, 3).Scan(&sum); err != nil {
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
