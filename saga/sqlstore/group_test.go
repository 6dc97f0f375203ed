package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/go-microkit/microkit/sqldialect"
	_ "modernc.org/sqlite"
)

func TestGroupCommitFailsTheWholeBatch(t *testing.T) {
	db, err := sql.Open("sqlite", sqldialect.SQLiteDSN(filepath.Join(t.TempDir(), "g.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (k TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	ops := []*writeOp{
		{query: "INSERT INTO t (k) VALUES (?)", args: []any{"a"}},
		{query: "INSERT INTO missing (k) VALUES (?)", args: []any{"b"}},
		{query: "INSERT INTO t (k) VALUES (?)", args: []any{"c"}},
	}
	commitBatch(ctx, db, ops)
	for i, o := range ops {
		if o.err == nil {
			t.Errorf("op %d succeeded in a batch that failed", i)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows after a failed batch (%v), want it rolled back", n, err)
	}

	ok := []*writeOp{
		{query: "INSERT INTO t (k) VALUES (?) ON CONFLICT (k) DO NOTHING", args: []any{"a"}},
		{query: "INSERT INTO t (k) VALUES (?) ON CONFLICT (k) DO NOTHING", args: []any{"a"}},
	}
	commitBatch(ctx, db, ok)
	if ok[0].err != nil || ok[1].err != nil || ok[0].rows != 1 || ok[1].rows != 0 {
		t.Fatalf("batch results = %+v %+v, want rows 1 then 0", ok[0], ok[1])
	}
}
