package sqlstore_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sqlstore"
	"github.com/go-microkit/microkit/sqldialect"
)

// TestWaitListingsSeekTheirIndex reads the plans (EXPLAIN) of the
// listings of waiting sagas among 20,000 of them, each on a key of its
// own: by key, the due ones (the timer loop's look) and those with a
// pending signal. Each must seek its partial index, not walk the waiting
// sagas in the status index, which the status condition alone would
// choose (SQLite, without statistics, did: a look-up by key, or a look
// for due sagas, then read every waiting saga).
func TestWaitListingsSeekTheirIndex(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			gen := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
				INSERT INTO microkit_sagas (id, name, status, version, state, steps, owner, lease_until, deadline, error, note, created_at, updated_at, wait_key, wake_at)
				SELECT 's-' || i, 'order', 'waiting', 3, x'7b7d', '[]', '', 0, 0, '', '', i, i, 'k-' || i, 1000 + i FROM n`
			if d.dialect == sqldialect.Postgres {
				gen = `INSERT INTO microkit_sagas (id, name, status, version, state, steps, owner, lease_until, deadline, error, note, created_at, updated_at, wait_key, wake_at)
					SELECT 's-' || i, 'order', 'waiting', 3, '\x7b7d'::bytea, '[]', '', 0, 0, '', '', i, i, 'k-' || i, 1000 + i FROM generate_series(1, 20000) i`
			}
			if _, err := d.db.ExecContext(ctx, gen); err != nil {
				t.Fatal(err)
			}
			// PostgreSQL's autovacuum analyzes a table this size; SQLite
			// has no statistics until ANALYZE, which an application seldom
			// runs: its planner must find the index without them.
			if d.dialect == sqldialect.Postgres {
				if _, err := d.db.ExecContext(ctx, "ANALYZE microkit_sagas"); err != nil {
					t.Fatal(err)
				}
			}
			s := d.store(t)
			if _, _, err := s.PutSignal(ctx, &saga.Signal{Key: "k-17", Type: "paid", CreatedAt: time.Unix(0, 1)}); err != nil {
				t.Fatal(err)
			}
			waiting := []saga.Status{saga.StatusWaiting}
			for _, tt := range []struct {
				name  string
				f     saga.Filter
				index string
				want  []string
			}{
				{"by key", saga.Filter{Statuses: waiting, WaitKey: "k-17"}, "microkit_sagas_wait_key_idx", []string{"s-17"}},
				{"due", saga.Filter{Statuses: waiting, DueBy: time.Unix(0, 1002), Limit: 256}, "microkit_sagas_wake_idx", []string{"s-1", "s-2"}},
				{"signalled", saga.Filter{Statuses: waiting, Signalled: true, Limit: 256}, "microkit_sagas_wait_key_idx", []string{"s-17"}},
			} {
				recs, err := s.List(ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]string, len(recs))
				for i, r := range recs {
					got[i] = r.ID
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("%s: List = %v, want %v", tt.name, got, tt.want)
				}
				query, args := sqlstore.ListQuery(s, tt.f)
				plan := sqltest.Explain(t, d.db, d.dialect, "", query, args...)
				if !strings.Contains(plan, tt.index) || strings.Contains(plan, "status_created_idx") {
					t.Errorf("%s: the listing does not seek %s:\n%s", tt.name, tt.index, plan)
				}
			}
		})
	}
}
