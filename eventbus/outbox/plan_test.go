package outbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/sqldialect"
)

// TestDueQueryReadsOnlyDue reads the plans (EXPLAIN) of the relay's
// query for due events and of its look-up of the next due time, with
// 100,000 events scheduled a day ahead added before 100 due ones: both
// must read the index <table>_due and sort nothing, and on PostgreSQL
// (EXPLAIN ANALYZE) the due query must read the 100 due rows and not one
// row scheduled later. If the index and the query drift apart, a round
// turns into a read of every scheduled event, which no test of results
// would notice.
func TestDueQueryReadsOnlyDue(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			now := time.Now()
			gen := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
				INSERT INTO microkit_outbox (id, type, subject, envelope, created_at, due_at)
				SELECT 'f-' || i, 'order.created', 'o-' || (i % 100), x'7b7d', 0, $1 FROM n`
			if d.dialect == sqldialect.Postgres {
				gen = `INSERT INTO microkit_outbox (id, type, subject, envelope, created_at, due_at)
					SELECT 'f-' || i, 'order.created', 'o-' || (i % 100), '\x7b7d'::bytea, 0, $1 FROM generate_series(1, 100000) i`
			}
			if _, err := d.db.ExecContext(ctx, gen, now.Add(24*time.Hour).UnixNano()); err != nil {
				t.Fatal(err)
			}
			addManyT(t, d, 100)
			if _, err := d.db.ExecContext(ctx, "ANALYZE microkit_outbox"); err != nil {
				t.Fatal(err)
			}
			for _, q := range []struct {
				name string
				stmt string
				args []any
			}{
				{"due", outbox.DueQuery(outbox.DefaultTable), []any{100, now.UnixNano()}},
				{"next due", outbox.NextDueQuery(outbox.DefaultTable), []any{now.UnixNano()}},
			} {
				plan := sqltest.Explain(t, d.db, d.dialect, "(ANALYZE, COSTS OFF)", q.stmt, q.args...)
				if !strings.Contains(plan, "microkit_outbox_due") || strings.Contains(plan, "Sort") ||
					strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "SCAN microkit_outbox") {
					t.Errorf("%s query: plan does not read the index of due events alone:\n%s", q.name, plan)
				}
				if d.dialect == sqldialect.Postgres && q.name == "due" && (!strings.Contains(plan, "rows=100 ") || strings.Contains(plan, "Rows Removed")) {
					t.Errorf("due query: reads rows other than the 100 due:\n%s", plan)
				}
			}
			if d.dialect == sqldialect.Postgres {
				// A round's one statement: the lock, the batch and the next
				// due time read the index of due events, the batch its 100
				// rows only; what it sorts is the batch, to return it in
				// order.
				plan := sqltest.Explain(t, d.db, d.dialect, "(ANALYZE, COSTS OFF)", outbox.LockAndFetchQuery(outbox.DefaultTable), 100, now.UnixNano(), outbox.DefaultTable)
				if strings.Count(plan, "microkit_outbox_due") < 2 || strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "Rows Removed") ||
					!strings.Contains(plan, "rows=100 ") || strings.Contains(plan, "rows=100000") {
					t.Errorf("round query: plan does not read the index of due events alone, or reads more than the batch:\n%s", plan)
				}
			}
		})
	}
}

// addManyT adds n events with Add, in one transaction.
func addManyT(t *testing.T, d *database, n int) {
	t.Helper()
	msgs := make([]*eventbus.Message, n)
	for i := range msgs {
		msgs[i] = orderCreated(t, "o-1", i)
	}
	schedule(t, d.db, time.Time{}, msgs...)
}
