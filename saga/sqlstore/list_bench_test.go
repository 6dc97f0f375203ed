package sqlstore_test

import (
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sqlstore"
	"github.com/go-microkit/microkit/sqldialect"
)

// listSagas is how many sagas BenchmarkList lists from.
const listSagas = 100_000

// BenchmarkList measures an operator's listing on PostgreSQL: one page of
// 50 among 100,000 sagas, newest first, with each indexed filter and deep
// into the listing. It loads the sagas once, into a schema of its own,
// and fails unless each listing reads the index it should, with the plan
// for its values and with the generic plan of a prepared statement.
//
//	go test -run '^$' -bench List ./saga/sqlstore/
func BenchmarkList(b *testing.B) {
	ctx := context.Background()
	db, _ := sqltest.Open(b, sqldialect.Postgres, "saga_list_bench")
	d := migrated(b, &database{dialect: sqldialect.Postgres, db: db})
	loadSagas(b, db)
	store := d.store(b)
	sum := md5.Sum([]byte("77777"))
	deep := cursorAt(b, db, listSagas/2)
	running := []saga.Status{saga.StatusRunning}
	for _, bc := range []struct {
		name   string
		filter saga.Filter
		// index is the index the plan must read, and generic says that the
		// generic plan must read it too. For an IDPrefix the generic plan
		// is dearer than the plans for the values, so PostgreSQL keeps
		// planning for the values.
		index   string
		generic bool
	}{
		{"newest", saga.Filter{}, "microkit_sagas_created_idx", true},
		{"status", saga.Filter{Statuses: running}, "microkit_sagas_status_created_idx", true},
		{"name+status", saga.Filter{Name: "refund", Statuses: []saga.Status{saga.StatusCompensationFailed}}, "microkit_sagas_name_idx", true},
		{"id-prefix", saga.Filter{IDPrefix: hex.EncodeToString(sum[:])[:5]}, "microkit_sagas_pkey", false}, // one saga
		{"id-prefix-broad", saga.Filter{IDPrefix: "a"}, "", false},                                         // one in 16
		{"stuck", saga.Filter{Statuses: running, UpdatedBefore: deep.CreatedAt}, "microkit_sagas_status_created_idx", true},
		{"deep", saga.Filter{After: &deep}, "microkit_sagas_created_idx", true},
		{"deep-status", saga.Filter{Statuses: running, After: &deep}, "microkit_sagas_status_created_idx", true},
		{"deep-name+status", saga.Filter{Name: "refund", Statuses: running, After: &deep}, "microkit_sagas_name_idx", true},
	} {
		f := bc.filter
		f.Newest, f.Limit = true, 50
		custom, generic := plans(b, db, store, f)
		for _, plan := range []string{custom, generic} {
			if strings.Contains(plan, "Seq Scan") || bc.index != "" && (plan == custom || bc.generic) && !strings.Contains(plan, bc.index) {
				b.Fatalf("%s: want an index scan of %s, got this plan:\n%s", bc.name, bc.index, plan)
			}
		}
		b.Run(bc.name, func(b *testing.B) {
			page, err := store.List(ctx, f)
			if err != nil || len(page) == 0 {
				b.Fatalf("List = %d records, %v; want a page", len(page), err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := store.List(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loadSagas inserts listSagas sagas in one statement: a second apart,
// under four names (60, 25, 10 and 5%), in the statuses of a busy system
// (2% running, 1% compensating, 1% compensation failed, 6% compensated,
// the rest completed), each with the step records of a finished 4-step
// saga.
func loadSagas(b *testing.B, db *sql.DB) {
	b.Helper()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var steps []saga.StepRecord
	for i, name := range []string{"create-order", "reserve-stock", "charge-card", "confirm-order"} {
		at := start.Add(time.Duration(i) * 40 * time.Millisecond)
		steps = append(steps, saga.StepRecord{Name: name, Status: saga.StepDone, Attempts: 1, Seq: i + 1,
			StartedAt: at, EndedAt: at.Add(35 * time.Millisecond)})
	}
	encoded, err := json.Marshal(steps)
	if err != nil {
		b.Fatal(err)
	}
	_, err = db.ExecContext(context.Background(), `INSERT INTO microkit_sagas
	(id, name, status, version, state, steps, owner, lease_until, deadline, error, note, created_at, updated_at)
SELECT md5(i::text),
	CASE WHEN i % 20 < 12 THEN 'create-order' WHEN i % 20 < 17 THEN 'refund' WHEN i % 20 < 19 THEN 'transfer' ELSE 'signup' END,
	CASE WHEN h < 2 THEN 'running' WHEN h < 3 THEN 'compensating' WHEN h < 4 THEN 'compensation_failed'
		WHEN h < 10 THEN 'compensated' ELSE 'completed' END,
	5, $1, $2, 'node-1', 0, 0, '', '', $3 + i * 1000000000, $3 + i * 1000000000 + 180000000
FROM (SELECT i, abs(hashtext(i::text)) % 100 AS h FROM generate_series(1, $4::bigint) AS i) AS g`,
		[]byte(`{"order_id":"o-1","amount":1999,"items":["a","b"]}`), string(encoded), start.UnixNano(), listSagas)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), "ANALYZE microkit_sagas"); err != nil {
		b.Fatal(err)
	}
}

// cursorAt returns the cursor of the n-th saga, newest first.
func cursorAt(b *testing.B, db *sql.DB, n int) saga.Cursor {
	b.Helper()
	var (
		created int64
		c       saga.Cursor
	)
	err := db.QueryRowContext(context.Background(),
		`SELECT created_at, id FROM microkit_sagas ORDER BY created_at DESC, id COLLATE "C" DESC OFFSET $1 LIMIT 1`, n-1).
		Scan(&created, &c.ID)
	if err != nil {
		b.Fatal(err)
	}
	c.CreatedAt = time.Unix(0, created).UTC()
	return c
}

// plans returns PostgreSQL's plans of s.List(ctx, f): the one for f's
// values, and the generic one, which a prepared statement switches to
// after five executions when it looks no dearer (pgx's database/sql driver
// prepares each statement once per connection).
func plans(b *testing.B, db *sql.DB, s *sqlstore.Store, f saga.Filter) (custom, generic string) {
	b.Helper()
	ctx := context.Background()
	query, args := sqlstore.ListQuery(s, f)
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	// EXECUTE takes no bind parameters: its arguments are literals.
	execute := "EXPLAIN EXECUTE list_plan"
	if len(args) > 0 {
		values := make([]string, len(args))
		for i, arg := range args {
			switch v := arg.(type) {
			case int64:
				values[i] = strconv.FormatInt(v, 10)
			case string:
				values[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
			default:
				b.Fatalf("argument %T", arg)
			}
		}
		execute += "(" + strings.Join(values, ", ") + ")"
	}
	for _, stmt := range []string{"PREPARE list_plan AS " + query, "SET plan_cache_mode = force_generic_plan"} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			b.Fatal(err)
		}
	}
	generic = explain(b, conn, execute, nil)
	for _, stmt := range []string{"RESET plan_cache_mode", "DEALLOCATE list_plan"} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			b.Fatal(err)
		}
	}
	return explain(b, conn, "EXPLAIN "+query, args), generic
}

// explain returns the plan that the EXPLAIN statement stmt prints.
func explain(b *testing.B, conn *sql.Conn, stmt string, args []any) string {
	b.Helper()
	rows, err := conn.QueryContext(context.Background(), stmt, args...)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			b.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return plan.String()
}
