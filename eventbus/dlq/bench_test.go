package dlq_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/dlq"
	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/sqldialect"
)

// benchEntries is how many dead letters BenchmarkConsole parks.
const benchEntries = 100_000

// BenchmarkConsole measures what an operator console asks of a store of
// 100,000 dead letters on PostgreSQL (8 groups, 20 types, a tenth of them
// replayed, four parked at each instant): one page of 50 in the listings
// it shows, the counts of its overview, and Groups. The table is loaded
// once, then VACUUM ANALYZEd as autovacuum would leave it.
func BenchmarkConsole(b *testing.B) {
	ctx := context.Background()
	db, _ := sqltest.Open(b, sqldialect.Postgres, "dlq_bench")
	store, err := dlq.New(db, sqldialect.Postgres, dlq.WithTable("dlq_bench"))
	if err != nil {
		b.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	loadBench(b, db)
	var (
		deep  dlq.Cursor
		nanos int64
		probe string
	)
	// The place halfway down the newest-first listing, and the first 8
	// characters of a message's ID, as an operator would paste them.
	if err := db.QueryRowContext(ctx, "SELECT parked_at, id, original_id FROM dlq_bench WHERE replays = 0"+
		" ORDER BY parked_at DESC, id DESC OFFSET 45000 LIMIT 1").Scan(&nanos, &deep.ID, &probe); err != nil {
		b.Fatal(err)
	}
	deep.ParkedAt = time.Unix(0, nanos)
	probe = probe[:8]

	for _, tc := range []struct {
		name string
		f    dlq.Filter
	}{
		{"newest", dlq.Filter{Newest: true}},
		{"newest-with-replayed", dlq.Filter{Newest: true, Replayed: true}},
		{"oldest", dlq.Filter{}},
		{"group", dlq.Filter{Group: "billing", Newest: true}},
		{"type", dlq.Filter{Type: "order.created", Newest: true}},
		{"type-prefix", dlq.Filter{Type: "order.>", Newest: true}},
		{"type-wildcard", dlq.Filter{Type: "*.cancelled", Newest: true}},
		{"deep-cursor", dlq.Filter{Newest: true, After: &deep}},
		{"group-deep-cursor", dlq.Filter{Group: "billing", Newest: true, After: &deep}},
		{"search-id", dlq.Filter{Search: probe, Newest: true}},
		{"search-one-char", dlq.Filter{Search: "a", Newest: true}},
	} {
		tc.f.Limit = 50
		b.Run("List/"+tc.name, func(b *testing.B) {
			for b.Loop() {
				page, err := store.List(ctx, tc.f)
				if err != nil || len(page) == 0 {
					b.Fatalf("%d entries, %v", len(page), err)
				}
			}
		})
	}
	for _, tc := range []struct {
		name string
		f    dlq.Filter
	}{
		{"all", dlq.Filter{}},
		{"with-replayed", dlq.Filter{Replayed: true}},
		{"group", dlq.Filter{Group: "billing"}},
		{"type-prefix", dlq.Filter{Type: "order.>"}},
		{"search-id", dlq.Filter{Search: probe}},
	} {
		b.Run("Count/"+tc.name, func(b *testing.B) {
			for b.Loop() {
				if n, err := store.Count(ctx, tc.f); err != nil || n == 0 {
					b.Fatalf("%d, %v", n, err)
				}
			}
		})
	}
	b.Run("Groups", func(b *testing.B) {
		for b.Loop() {
			if g, err := store.Groups(ctx); err != nil || len(g) != len(benchGroups) {
				b.Fatalf("%d groups, %v", len(g), err)
			}
		}
	})
}

var (
	benchGroups = []string{"billing", "shipping", "stock", "mailer", "search", "audit", "ledger", "loyalty"}
	benchTypes  = func() []string {
		var out []string
		for _, d := range []string{"order", "payment", "shipment", "stock"} {
			for _, e := range []string{"created", "updated", "cancelled", "completed", "failed"} {
				out = append(out, d+"."+e)
			}
		}
		return out
	}()
)

// loadBench inserts benchEntries dead letters straight into the table,
// a thousand rows per statement: parking them one by one would take
// minutes.
func loadBench(b *testing.B, db *sql.DB) {
	b.Helper()
	ctx := context.Background()
	const rows = 1000
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for first := 0; first < benchEntries; first += rows {
		var (
			values []string
			args   []any
		)
		for i := first; i < first+rows; i++ {
			original, err := eventbus.NewMessage(benchTypes[i%len(benchTypes)], map[string]any{
				"orderId": "o-" + strconv.Itoa(i), "amount": 1999, "currency": "EUR", "lines": []string{"sku-1", "sku-2"},
			})
			if err != nil {
				b.Fatal(err)
			}
			at := start.Add(time.Duration(i/4) * time.Second)
			group := benchGroups[i%len(benchGroups)]
			parked := original.Clone()
			parked.ID, parked.Type = eventbus.DeadLetterID(original.ID), eventbus.DeadLetterPrefix+original.Type
			parked.Metadata = map[string]string{
				eventbus.MetaDeadLetterOriginalType: original.Type, eventbus.MetaDeadLetterOriginalID: original.ID,
				eventbus.MetaDeadLetterReason: "unknown currency EUR", eventbus.MetaDeadLetterAttempts: "5",
				eventbus.MetaDeadLetterGroup: group, eventbus.MetaDeadLetterHandler: original.Type,
				eventbus.MetaDeadLetterTime: at.Format(time.RFC3339Nano),
			}
			env, err := eventbus.Marshal(parked)
			if err != nil {
				b.Fatal(err)
			}
			replays := 0
			if i%10 == 3 {
				replays = 1
			}
			values = append(values, "("+sqldb.Params(len(args)+1, 10)+")")
			args = append(args, parked.ID, original.ID, original.Type, "unknown currency EUR", 5, group, original.Type,
				at.UnixNano(), replays, env)
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO dlq_bench (id, original_id, original_type, reason, attempts, grp, handler,"+
			" parked_at, replays, envelope) VALUES "+strings.Join(values, ", "), args...); err != nil {
			b.Fatal(fmt.Errorf("loading: %w", err))
		}
	}
	if _, err := db.ExecContext(ctx, "VACUUM ANALYZE dlq_bench"); err != nil {
		b.Fatal(err)
	}
}
