package main

import (
	"context"
	"errors"
	"testing"

	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/jackc/pgx/v5"
)

func TestCostOf(t *testing.T) {
	before := pgCounters{database: "shop", transactions: 1000, sessions: 10, blocksHit: 5000, blocksRead: 50, rowsWritten: 300}
	tests := []struct {
		name    string
		after   pgCounters
		orders  int
		want    pgCost
		wantErr error
		line    string
	}{
		{
			name:   "per order",
			after:  pgCounters{database: "shop", transactions: 1400, sessions: 12, blocksHit: 9000, blocksRead: 150, rowsWritten: 1100},
			orders: 100,
			want: pgCost{
				delta:  pgCounters{database: "shop", transactions: 400, sessions: 2, blocksHit: 4000, blocksRead: 100, rowsWritten: 800},
				orders: 100, transactionsPerOrder: 4, sessionsPerOrder: 0.02, blocksPerOrder: 41, blocksReadPerOrder: 1, rowsWrittenPerOrder: 8,
			},
			line: "postgres: 4.00 transactions/order, 0.020 new sessions/order, 41.0 blocks/order (1.00 read), 8.0 rows written/order " +
				"[400 transactions, 2 new sessions in database shop]",
		},
		{
			name:   "nothing happened",
			after:  before,
			orders: 7,
			want:   pgCost{delta: pgCounters{database: "shop"}, orders: 7},
			line:   "postgres: 0.00 transactions/order, 0.000 new sessions/order, 0.0 blocks/order (0.00 read), 0.0 rows written/order [0 transactions, 0 new sessions in database shop]",
		},
		{
			name:   "zero orders",
			after:  pgCounters{database: "shop", transactions: 1030, sessions: 11, blocksHit: 5000, blocksRead: 50, rowsWritten: 300},
			orders: 0,
			want:   pgCost{delta: pgCounters{database: "shop", transactions: 30, sessions: 1}},
			line:   "postgres: no orders answered [30 transactions, 1 new sessions in database shop]",
		},
		{
			name:    "statistics reset",
			after:   pgCounters{database: "shop", transactions: 20, sessions: 1, blocksHit: 100, blocksRead: 1, rowsWritten: 3},
			orders:  100,
			wantErr: errCountersReset,
		},
		{
			name:    "one counter reset",
			after:   pgCounters{database: "shop", transactions: 1400, sessions: 12, blocksHit: 9000, blocksRead: 150, rowsWritten: 299},
			orders:  100,
			wantErr: errCountersReset,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := costOf(before, tt.after, tt.orders)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("costOf error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("costOf = %+v, want %+v", got, tt.want)
			}
			if err == nil && got.String() != tt.line {
				t.Errorf("line = %q\nwant   %q", got.String(), tt.line)
			}
		})
	}
}

// TestPGSamplerCountsTransactions reads the counters of the test database
// around transactions of its own, made on a second connection; other clients
// of the database may add to the difference, never take from it.
func TestPGSamplerCountsTransactions(t *testing.T) {
	dsn := testenv.Addr(t, "MICROKIT_POSTGRES_URL")
	ctx := t.Context()
	s, err := dialPG(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close(context.WithoutCancel(ctx))
	var version int
	if err := s.conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < 150000 {
		// Before 15 the counters reach pg_stat_database through the
		// statistics collector, with no way to wait for them.
		t.Skipf("needs PostgreSQL 15+ (pg_stat_force_next_flush); the server is %d", version)
	}
	before, err := s.sample(ctx)
	if err != nil {
		t.Fatal(err)
	}

	const commits, rollbacks = 5, 2
	work, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer work.Close(context.WithoutCancel(ctx))
	for i := range commits + rollbacks {
		tx, err := work.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		if i < commits {
			err = tx.Commit(ctx)
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// A backend publishes its counters when it goes idle, at most once a
	// second; this makes the next time it goes idle publish them.
	if _, err := work.Exec(ctx, "SELECT pg_stat_force_next_flush()"); err != nil {
		t.Fatal(err)
	}

	after, err := s.sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := costOf(before, after, commits+rollbacks)
	if err != nil {
		t.Fatal(err)
	}
	if c.delta.transactions < commits+rollbacks {
		t.Errorf("transactions went up by %d, want at least %d", c.delta.transactions, commits+rollbacks)
	}
	if c.delta.sessions < 1 {
		t.Errorf("sessions went up by %d, want at least 1 (the second connection)", c.delta.sessions)
	}
	if c.transactionsPerOrder < 1 {
		t.Errorf("transactions per order = %v, want at least 1", c.transactionsPerOrder)
	}
	if want := after.database; c.delta.database != want || want == "" {
		t.Errorf("database = %q, want %q", c.delta.database, want)
	}
}
