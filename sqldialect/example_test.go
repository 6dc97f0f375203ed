package sqldialect_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-microkit/microkit/sqldialect"
	"modernc.org/sqlite"
)

// A program that serves several databases reads the dialect from its
// configuration; a Dialect decodes itself from text.
func ExampleParse() {
	for _, name := range []string{"postgres", "sqlite", "oracle"} {
		d, err := sqldialect.Parse(name)
		fmt.Println(d, err)
	}
	// Output:
	// postgres <nil>
	// sqlite <nil>
	// Dialect(0) sqldialect: unknown dialect "oracle": want postgres or sqlite
}

// Opening SQLite for the stores: the tuned data source name, and a pool
// that keeps its connections.
func ExampleSetPoolSize() {
	dir, err := os.MkdirTemp("", "shop")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", sqldialect.SQLiteDSN(filepath.Join(dir, "shop.db")))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	sqldialect.SetPoolSize(db, 4)
	var mode string
	if err := db.QueryRowContext(context.Background(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(mode, db.Stats().MaxOpenConnections)
	// Output: wal 4
}

// Opening SQLite through the statement cache: a statement with arguments
// is prepared once per connection, inside transactions too, even on a pool
// of one connection.
func ExampleCachingConnector() {
	dir, err := os.MkdirTemp("", "shop")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	c, err := sqlite.NewConnector(sqldialect.SQLiteDSN(filepath.Join(dir, "shop.db")))
	if err != nil {
		fmt.Println(err)
		return
	}
	db := sql.OpenDB(sqldialect.CachingConnector(c))
	defer db.Close()
	sqldialect.SetPoolSize(db, 1)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"); err != nil {
		fmt.Println(err)
		return
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range 3 {
		if _, err := tx.ExecContext(ctx, "INSERT INTO kv (k, v) VALUES (?, ?)", fmt.Sprint("k", i), i); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fmt.Println(err)
		return
	}
	var sum int
	if err := db.QueryRowContext(ctx, "SELECT SUM(v) FROM kv WHERE v >= ?", 0).Scan(&sum); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sum)
	// Output: 3
}

func openSQLite(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
