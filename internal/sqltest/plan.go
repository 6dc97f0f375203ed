package sqltest

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/sqldialect"
)

// Queryer is a *sql.DB, *sql.Conn or *sql.Tx.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Explain returns the plan of stmt, one node a line: EXPLAIN QUERY PLAN on
// SQLite; on PostgreSQL, EXPLAIN with options (e.g. "(ANALYZE, COSTS
// OFF)", or "" for none). The plan's text is the last column in both.
func Explain(t testing.TB, q Queryer, d sqldialect.Dialect, options, stmt string, args ...any) string {
	t.Helper()
	prefix := "EXPLAIN QUERY PLAN "
	if d == sqldialect.Postgres {
		prefix = "EXPLAIN " + options + " "
	}
	rows, err := q.QueryContext(context.Background(), prefix+stmt, args...)
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		dest := make([]any, len(cols))
		for i := range dest {
			dest[i] = new(any)
		}
		var line string
		dest[len(dest)-1] = &line
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
