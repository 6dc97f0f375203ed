package sqldialect_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/sqldialect"
	"modernc.org/sqlite"
)

// BenchmarkSQLiteStmtCache compares a small INSERT and a primary-key SELECT
// on SQLite through the driver's connector (every statement parsed and
// planned again) and through CachingConnector. synchronous(NORMAL), as the
// example shop runs, so that a disk sync per commit does not hide the CPU
// the statements cost.
func BenchmarkSQLiteStmtCache(b *testing.B) {
	for _, conn := range []struct {
		name string
		wrap func(driver.Connector) driver.Connector
	}{
		{"plain", func(c driver.Connector) driver.Connector { return c }},
		{"cached", sqldialect.CachingConnector},
	} {
		open := func(b *testing.B) *sql.DB {
			dsn := strings.Replace(sqldialect.SQLiteDSN(filepath.Join(b.TempDir(), "bench.db")),
				"synchronous(FULL)", "synchronous(NORMAL)", 1)
			c, err := sqlite.NewConnector(dsn)
			if err != nil {
				b.Fatal(err)
			}
			db := sql.OpenDB(conn.wrap(c))
			sqldialect.SetPoolSize(db, 1)
			b.Cleanup(func() { _ = db.Close() })
			if _, err := db.Exec("CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL, n INTEGER NOT NULL)"); err != nil {
				b.Fatal(err)
			}
			return db
		}
		b.Run("insert/"+conn.name, func(b *testing.B) {
			db := open(b)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, err := db.ExecContext(ctx, "INSERT INTO kv (k, v, n) VALUES (?, ?, ?)", i, "value", i); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("select/"+conn.name, func(b *testing.B) {
			db := open(b)
			ctx := context.Background()
			const rows = 1000
			for i := range rows {
				if _, err := db.ExecContext(ctx, "INSERT INTO kv (k, v, n) VALUES (?, ?, ?)", i, "value", i); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				var v string
				var n int
				if err := db.QueryRowContext(ctx, "SELECT v, n FROM kv WHERE k = ?", i%rows).Scan(&v, &n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
