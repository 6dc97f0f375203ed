package sqldialect_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/sqldialect"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// openCachedSQLite opens a SQLite file in a temporary directory through the
// caching connector, with a pool of n connections and the table kv.
func openCachedSQLite(t testing.TB, n int) *sql.DB {
	t.Helper()
	c, err := sqlite.NewConnector(sqldialect.SQLiteDSN(filepath.Join(t.TempDir(), "cache.db")))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(sqldialect.CachingConnector(c))
	sqldialect.SetPoolSize(db, n)
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.ExecContext(context.Background(), "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return db
}

// guard bounds a test that would otherwise hang on a deadlock: with a pool
// of one connection, a statement that asks the pool for a connection while
// a transaction holds it waits for ctx.
func guard(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func count(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, k string) int64 {
	t.Helper()
	return queryInt(t, q, "SELECT count(*) FROM kv WHERE k = ?", k)
}

func TestCachingConnectorSQLiteOneConnection(t *testing.T) {
	db := openCachedSQLite(t, 1)
	ctx := guard(t)
	if _, err := db.ExecContext(ctx, "INSERT INTO kv (k, v) VALUES (?, ?)", "a", 1); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Statements first run inside the transaction, which holds the pool's
	// only connection: they must be prepared on it.
	if _, err := tx.ExecContext(ctx, "UPDATE kv SET v = v + ? WHERE k = ?", 10, "a"); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, tx, "SELECT v FROM kv WHERE k = ?", "a"); got != 11 {
		t.Fatalf("v in tx = %d, want 11", got)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO kv (k, v) VALUES (?, ?)", "b", 2); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, db, "SELECT v FROM kv WHERE k = ?", "a"); got != 11 {
		t.Fatalf("v after commit = %d, want 11", got)
	}
	if got := count(t, db, "b"); got != 1 {
		t.Fatalf("b after commit: %d rows", got)
	}

	// Rollback discards, and the cached statements still run afterwards.
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO kv (k, v) VALUES (?, ?)", "c", 3); err != nil {
		t.Fatal(err)
	}
	if got := count(t, tx, "c"); got != 1 {
		t.Fatalf("c in tx: %d rows", got)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := count(t, db, "c"); got != 0 {
		t.Fatalf("c after rollback: %d rows", got)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO kv (k, v) VALUES (?, ?)", "c", 4); err != nil {
		t.Fatal(err)
	}
	if got := count(t, db, "c"); got != 1 {
		t.Fatalf("c after insert: %d rows", got)
	}
}

func TestCachingConnectorSQLiteManyQueries(t *testing.T) {
	db := openCachedSQLite(t, 1)
	ctx := guard(t)
	for round := range 2 {
		for i := range sqldialect.StmtCacheSize + 20 {
			if got := queryInt(t, db, fmt.Sprintf("SELECT ? + %d", i), round); got != int64(round+i) {
				t.Fatalf("round %d: SELECT %d + %d = %d", round, round, i, got)
			}
		}
	}
	// Two open rows of one query text in a transaction.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	r1, err := tx.QueryContext(ctx, "SELECT ? + 0", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	if got := queryInt(t, tx, "SELECT ? + 0", 2); got != 2 {
		t.Fatalf("nested query = %d, want 2", got)
	}
	var v int64
	if !r1.Next() || r1.Scan(&v) != nil || v != 1 {
		t.Fatalf("outer query = %d, %v; want 1", v, r1.Err())
	}
}

func TestCachingConnectorSQLiteStatements(t *testing.T) {
	db := openCachedSQLite(t, 1)
	ctx := guard(t)
	// Several statements without arguments: all run.
	if _, err := db.ExecContext(ctx, "CREATE TABLE a (x INTEGER); CREATE TABLE b (y INTEGER); INSERT INTO b VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, db, "SELECT y FROM b WHERE y = ?", 7); got != 7 {
		t.Fatalf("b.y = %d, want 7", got)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO a VALUES (?)", 1); err != nil {
		t.Fatal(err)
	}

	// A schema change under a cached statement: SQLite prepares it again.
	const sel = "SELECT * FROM a WHERE x = ?"
	cols := func() int {
		rows, err := db.QueryContext(ctx, sel, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		c, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		return len(c)
	}
	if got := cols(); got != 1 {
		t.Fatalf("%d columns, want 1", got)
	}
	if _, err := db.ExecContext(ctx, "ALTER TABLE a ADD COLUMN z TEXT"); err != nil {
		t.Fatal(err)
	}
	if got := cols(); got != 2 {
		t.Fatalf("%d columns after ALTER TABLE, want 2", got)
	}
	if _, err := db.ExecContext(ctx, "DROP TABLE a"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.QueryContext(ctx, sel, 1); err == nil {
		t.Fatal("query of a dropped table: no error")
	}

	for _, tc := range []struct {
		name  string
		query string
		args  []any
	}{
		{"no such table", "INSERT INTO nosuch VALUES (?)", []any{1}},
		{"syntax", "INSERT INTO kv VALUES (?, ?", []any{1, 2}},
		{"missing argument", "INSERT INTO kv (k, v) VALUES (?, ?)", []any{"k"}},
		{"not null", "INSERT INTO kv (k, v) VALUES (?, ?)", []any{"k", nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 {
				if _, err := db.ExecContext(ctx, tc.query, tc.args...); err == nil {
					t.Fatal("Exec: no error")
				}
				if _, err := db.QueryContext(ctx, tc.query, tc.args...); err == nil {
					t.Fatal("Query: no error")
				}
			}
		})
	}

	// A constraint violation leaves the statement usable.
	const ins = "INSERT INTO kv (k, v) VALUES (?, ?)"
	if _, err := db.ExecContext(ctx, ins, "dup", 1); err != nil {
		t.Fatal(err)
	}
	var serr *sqlite.Error
	if _, err := db.ExecContext(ctx, ins, "dup", 2); !errors.As(err, &serr) || serr.Code()&0xff != sqlite3.SQLITE_CONSTRAINT {
		t.Fatalf("duplicate key: %v, want SQLITE_CONSTRAINT", err)
	}
	if _, err := db.ExecContext(ctx, ins, "dup2", 2); err != nil {
		t.Fatal(err)
	}

	// The driver's own functions see through the wrapper.
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := sqlite.Limit(c, sqlite3.SQLITE_LIMIT_LENGTH, -1); err != nil {
		t.Fatalf("sqlite.Limit through the wrapper: %v", err)
	}
}

func TestCachingConnectorSQLiteConcurrent(t *testing.T) {
	db := openCachedSQLite(t, 4)
	ctx := guard(t)
	const goroutines, rounds = 8, 25
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range rounds {
				k := fmt.Sprintf("%d-%d", g, i)
				if _, err := db.ExecContext(ctx, "INSERT INTO kv (k, v) VALUES (?, ?)", k, i); err != nil {
					t.Error(err)
					return
				}
				// Write first, so that the transaction takes SQLite's write
				// lock at once and waits for it under busy_timeout.
				err := func() error {
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					defer tx.Rollback()
					if _, err := tx.ExecContext(ctx, "UPDATE kv SET v = v + ? WHERE k = ?", 100, k); err != nil {
						return err
					}
					var v int
					if err := tx.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = ?", k).Scan(&v); err != nil {
						return err
					}
					if v != i+100 {
						return fmt.Errorf("%s: v = %d in tx, want %d", k, v, i+100)
					}
					return tx.Commit()
				}()
				if err != nil {
					t.Error(err)
					return
				}
				var v int
				if err := db.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = ?", k).Scan(&v); err != nil || v != i+100 {
					t.Errorf("%s: v = %d, %v; want %d", k, v, err, i+100)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := queryInt(t, db, "SELECT count(*) FROM kv WHERE v >= ?", 100); got != goroutines*rounds {
		t.Fatalf("%d rows, want %d", got, goroutines*rounds)
	}
}
