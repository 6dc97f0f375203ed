package sqldb_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/sqldialect"
)

// TestBeginDetached: a transaction begun by BeginDetached commits after
// its context ended, and waiting for a connection of a full pool ends with
// the context.
func TestBeginDetached(t *testing.T) {
	db, err := sqldb.Open(sqldialect.SQLite, sqldialect.SQLiteDSN(filepath.Join(t.TempDir(), "x.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE t (n INTEGER)"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	tx, release, err := sqldb.BeginDetached(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO t (n) VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	cancel()
	// The pool's only connection is the transaction's: another
	// BeginDetached waits for it until its own context ends.
	if _, _, err := sqldb.BeginDetached(ctx, db); !errors.Is(err, context.Canceled) {
		t.Errorf("BeginDetached on a full pool with an ended context = %v, want context.Canceled", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit after the context ended = %v", err)
	}
	release()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d rows committed, want 1", n)
	}
}
