package sqldialect_test

import (
	"context"
	"flag"
	"io"
	"path/filepath"
	"testing"

	"github.com/go-microkit/microkit/sqldialect"
	_ "modernc.org/sqlite"
)

func TestDialectNames(t *testing.T) {
	for _, tc := range []struct {
		d    sqldialect.Dialect
		name string
		ok   bool // a dialect MarshalText accepts
	}{
		{sqldialect.Postgres, "postgres", true},
		{sqldialect.SQLite, "sqlite", true},
		{0, "Dialect(0)", false},
		{3, "Dialect(3)", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.d.String(); got != tc.name {
				t.Errorf("String() = %q, want %q", got, tc.name)
			}
			text, err := tc.d.MarshalText()
			if !tc.ok {
				if err == nil {
					t.Errorf("MarshalText() = %q, want an error", text)
				}
				return
			}
			if err != nil || string(text) != tc.name {
				t.Fatalf("MarshalText() = %q, %v; want %q", text, err, tc.name)
			}
			var back sqldialect.Dialect
			if err := back.UnmarshalText(text); err != nil || back != tc.d {
				t.Errorf("UnmarshalText(%q) = %v, %v; want %v", text, back, err, tc.d)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		want sqldialect.Dialect // 0: an error
	}{
		{"postgres", sqldialect.Postgres},
		{"PostgreSQL", sqldialect.Postgres},
		{"sqlite", sqldialect.SQLite},
		{"SQLite", sqldialect.SQLite},
		{"", 0},
		{"mysql", 0},
		{"sqlite3", 0},
		{"Dialect(1)", 0},
	} {
		got, err := sqldialect.Parse(tc.name)
		switch {
		case tc.want == 0 && err == nil:
			t.Errorf("Parse(%q) = %v, want an error", tc.name, got)
		case tc.want != 0 && (err != nil || got != tc.want):
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

// TestDialectFlag reads a dialect from a command line through flag.TextVar,
// and rejects an unknown one without changing the value.
func TestDialectFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want sqldialect.Dialect
		fail bool
	}{
		{nil, sqldialect.SQLite, false},
		{[]string{"-dialect", "postgres"}, sqldialect.Postgres, false},
		{[]string{"-dialect=sqlite"}, sqldialect.SQLite, false},
		{[]string{"-dialect", "oracle"}, sqldialect.SQLite, true},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var d sqldialect.Dialect
		fs.TextVar(&d, "dialect", sqldialect.SQLite, "database dialect")
		err := fs.Parse(tc.args)
		if (err != nil) != tc.fail || d != tc.want {
			t.Errorf("%q: dialect %v, error %v; want %v, error %v", tc.args, d, err, tc.want, tc.fail)
		}
	}
}

func TestSQLiteDSN(t *testing.T) {
	want := "file:/data/x.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	if got := sqldialect.SQLiteDSN("/data/x.db"); got != want {
		t.Errorf("SQLiteDSN = %q, want %q", got, want)
	}
}

// TestSQLiteDSNPragmas opens a file through SQLiteDSN with
// modernc.org/sqlite and checks that each pragma took effect.
func TestSQLiteDSNPragmas(t *testing.T) {
	db := openSQLite(t, sqldialect.SQLiteDSN(filepath.Join(t.TempDir(), "x.db")))
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"busy_timeout", "10000"},
		{"synchronous", "2"}, // FULL
	} {
		var got string
		if err := db.QueryRowContext(context.Background(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
}
