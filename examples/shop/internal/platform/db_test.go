package platform

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/internal/sqltest"
)

func TestRebind(t *testing.T) {
	tests := []struct {
		name     string
		postgres bool
		in, want string
	}{
		{"sqlite keeps ?", false, "SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = ? AND c = ?"},
		{"postgres numbers in order", true, "SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2"},
		{"postgres without parameters", true, "SELECT 1", "SELECT 1"},
		{"postgres many", true, "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &DB{postgres: tt.postgres}
			if got := d.Rebind(tt.in); got != tt.want {
				t.Errorf("Rebind(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzRebind(f *testing.F) {
	f.Add("SELECT a FROM t WHERE b = ? AND c = ?")
	f.Add("INSERT INTO x VALUES (?, 'é?', ?)")
	f.Add("")
	f.Fuzz(func(t *testing.T, q string) {
		if got := (&DB{}).Rebind(q); got != q {
			t.Fatalf("sqlite Rebind changed %q to %q", q, got)
		}
		got := (&DB{postgres: true}).Rebind(q)
		if strings.Contains(got, "?") {
			t.Fatalf("Rebind(%q) = %q left a ?", q, got)
		}
		// The text between parameters is kept byte for byte.
		parts := strings.Split(q, "?")
		var want strings.Builder
		for i, p := range parts {
			if i > 0 {
				want.WriteString("$" + strconv.Itoa(i))
			}
			want.WriteString(p)
		}
		if got != want.String() {
			t.Fatalf("Rebind(%q) = %q, want %q", q, got, want.String())
		}
	})
}

func TestSQLiteTx(t *testing.T) {
	ctx := context.Background()
	db, err := OpenDB(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, `CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	err = db.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, "a", "1"); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Tx = %v, want the callback's error", err)
	}
	if err := db.Tx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, "b", "2")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM kv`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d, %v; want 1 (the rolled back insert is gone)", n, err)
	}
}

// TestOpenDBSQLite: a SQLite file opens in WAL mode with synchronous(NORMAL)
// (sqldialect.SQLiteDSN's FULL, relaxed), on a pool of one connection that
// stays open between transactions.
func TestOpenDBSQLite(t *testing.T) {
	ctx := context.Background()
	db, err := OpenDB(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"busy_timeout", "10000"},
		{"synchronous", "1"}, // NORMAL
	} {
		var got string
		if err := db.QueryRow(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
	for range 3 {
		if err := db.Tx(ctx, func(tx *Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if st := db.SQL().Stats(); st.MaxOpenConnections != 1 || st.OpenConnections != 1 || st.MaxIdleClosed != 0 {
		t.Errorf("pool: max open %d, open %d, closed for want of idle room %d; want 1, 1, 0",
			st.MaxOpenConnections, st.OpenConnections, st.MaxIdleClosed)
	}
}

// AddColumn migrates a table made before the column existed, once: run
// again it changes nothing, and the rows it finds get the default. On
// SQLite, which has no ADD COLUMN IF NOT EXISTS, and on PostgreSQL.
func TestAddColumn(t *testing.T) {
	pgDSN, _ := sqltest.PostgresSchema(t, "platform")
	for _, tc := range []struct{ name, dsn string }{
		{"sqlite", filepath.Join(t.TempDir(), "t.db")},
		{"postgres", pgDSN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			db, err := OpenDB(ctx, tc.dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.Migrate(ctx, `CREATE TABLE old_orders (id TEXT PRIMARY KEY)`, `INSERT INTO old_orders (id) VALUES ('o-1')`); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := db.AddColumn(ctx, "old_orders", "tracking", `tracking TEXT NOT NULL DEFAULT ''`); err != nil {
					t.Fatal(err)
				}
			}
			var tracking string
			if err := db.QueryRow(ctx, `SELECT tracking FROM old_orders WHERE id = ?`, "o-1").Scan(&tracking); err != nil || tracking != "" {
				t.Fatalf("tracking of a row from before the column: %q, %v; want the default", tracking, err)
			}
		})
	}
}
