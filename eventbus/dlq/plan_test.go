package dlq

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/sqldialect"
)

// TestPlansUseIndexes reads the query plan (EXPLAIN) of every statement
// behind List, Count, Groups and the batch operations on 1,000 entries
// where the values filtered on are rare, as the entries of one group or
// one message are among 100,000: each must read the index made for it,
// and a listing whose order that index gives must sort nothing. The
// byte-order collation, the partial indexes' predicate and the cursor's
// row comparison must all line up with the indexes for that; if one
// drifts, a page among 100,000 entries turns into a read of the table,
// which no test of results would notice. PostgreSQL is told to avoid
// table scans (enable_seqscan), so that a plan reads the table only where
// no index serves.
func TestPlansUseIndexes(t *testing.T) {
	for _, d := range []sqldialect.Dialect{sqldialect.SQLite, sqldialect.Postgres} {
		t.Run(d.String(), func(t *testing.T) { testPlans(t, d) })
	}
}

func testPlans(t *testing.T, d sqldialect.Dialect) {
	ctx := context.Background()
	db, _ := sqltest.Open(t, d, "dlq_plan")
	s, err := New(db, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	loadPlanEntries(t, s)
	conn, err := db.Conn(ctx) // the session setting below holds on this connection only
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	idIndex := "sqlite_autoindex_" + s.table // the primary key's, in byte order on SQLite
	if d == sqldialect.Postgres {
		idIndex = s.table + "_id_bytes"
		if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
	}
	after := &Cursor{ParkedAt: time.Unix(0, 500), ID: "m"}
	for _, tc := range []struct {
		name    string
		f       Filter
		ordered bool     // the index gives the listing's order: no sort
		indexes []string // suffixes of the index names the plans must read
	}{
		{"oldest", Filter{}, true, []string{"_open_time"}},
		{"newest after", Filter{Newest: true, After: after}, true, []string{"_open_time"}},
		{"with replayed", Filter{Newest: true, Replayed: true}, true, []string{"_time"}},
		{"with replayed after", Filter{Replayed: true, After: after}, true, []string{"_time"}},
		{"group", Filter{Group: "rare", Newest: true}, true, []string{"_open_group"}},
		{"group after", Filter{Group: "rare", Newest: true, After: after}, true, []string{"_open_group"}},
		{"type", Filter{Type: "rare.cancelled", Newest: true}, true, []string{"_open_type"}},
		{"type after", Filter{Type: "rare.cancelled", After: after}, true, []string{"_open_type"}},
		{"type prefix", Filter{Type: "rare.>", Newest: true}, false, []string{"_open_type"}},
		{"type wildcard", Filter{Type: "*.cancelled", Newest: true}, false, []string{"_open_type"}},
		{"original", Filter{OriginalID: "o-7", Replayed: true}, false, []string{"_original"}},
		{"search", Filter{Search: "o-7.", Newest: true}, false, []string{"_original", idIndex}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := s.selection(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			page, args := s.pageStatement(q, tc.f.After, tc.f.Newest, 50)
			check := func(what, stmt string, args []any, ordered bool, indexes []string) {
				t.Helper()
				plan := sqltest.Explain(t, conn, d, "", stmt, args...)
				if sorted, full := planReads(d, plan); full || (ordered && sorted) {
					t.Errorf("%s reads the table (%v) or sorts (%v) where an index serves:\n%s\n%s", what, full, sorted, stmt, plan)
				}
				for _, ix := range indexes {
					if !strings.Contains(plan, ix) {
						t.Errorf("%s does not read the index %s:\n%s\n%s", what, ix, stmt, plan)
					}
				}
			}
			check("List", page, args, tc.ordered, tc.indexes)
			if tc.f.After != nil {
				return // the statements below take no cursor
			}
			counted := tc.indexes
			if tc.f.Group == "" && tc.f.Type == "" && tc.f.OriginalID == "" && tc.f.Search == "" {
				counted = nil // every entry, or every one never replayed: any index counts them
			}
			check("Count", s.countStatement(q), q.args, false, counted)
			// The batch operations' statements have the same conditions as
			// List's, with other limits: a planner may pick another of the
			// indexes, never the table.
			check("the newest match", s.lastStatement(q), q.args, tc.ordered, nil)
			check("DeleteMatching", s.deleteStatement(q), q.args, tc.ordered, nil)
		})
	}
	t.Run("Groups", func(t *testing.T) {
		plan := sqltest.Explain(t, conn, d, "", s.groupsStatement())
		if _, full := planReads(d, plan); full {
			t.Errorf("Groups reads the table:\n%s", plan)
		}
	})
	t.Run("types", func(t *testing.T) {
		stmt, args := s.typesStatement("rare.", false)
		plan := sqltest.Explain(t, conn, d, "", stmt, args...)
		if _, full := planReads(d, plan); full || !strings.Contains(plan, "_open_type") {
			t.Errorf("the types of a '*' pattern are not read from the type index:\n%s\n%s", stmt, plan)
		}
	})
}

// planReads reports whether plan sorts, and whether it reads a whole
// table rather than an index.
func planReads(d sqldialect.Dialect, plan string) (sorted, full bool) {
	if d == sqldialect.Postgres {
		return strings.Contains(plan, "Sort"), strings.Contains(plan, "Seq Scan")
	}
	for line := range strings.Lines(plan) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "USE TEMP B-TREE FOR ORDER BY") {
			sorted = true
		}
		// "SCAN t" alone reads the table; "SCAN t USING [COVERING] INDEX
		// i" walks an index, and a scan of a CTE reads no table.
		if f := strings.Fields(line); len(f) == 2 && f[0] == "SCAN" && f[1] != "types" {
			full = true
		}
	}
	return sorted, full
}

// loadPlanEntries parks 1,000 entries straight into s's table: in ten
// groups and ten types, and one entry of group "rare", of type
// "rare.cancelled" and of message "o-7", whose ID also starts with the
// search "o-7.". The planners see the counts (ANALYZE).
func loadPlanEntries(t *testing.T, s *Store) {
	t.Helper()
	var (
		values []string
		args   []any
	)
	for i := range 1000 {
		group, typ, original := "g"+strconv.Itoa(i%10), "common"+strconv.Itoa(i%10)+".created", "x-"+strconv.Itoa(i)
		if i == 7 {
			group, typ, original = "rare", "rare.cancelled", "o-7"
		}
		values = append(values, "("+sqldb.Params(len(args)+1, 9)+")")
		args = append(args, original+".deadletter", original, typ, "r", 1, group, "h", int64(i), []byte("{}"))
	}
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, "INSERT INTO "+s.table+" (id, original_id, original_type, reason, attempts, grp, handler,"+
		" parked_at, envelope) VALUES "+strings.Join(values, ", "), args...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, "ANALYZE "+s.table); err != nil {
		t.Fatal(err)
	}
}
