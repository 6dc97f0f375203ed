package sqldialect_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"

	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/sqldialect"
)

// BenchmarkPoolBursts measures bursts of 8 concurrent one-row transactions
// on PostgreSQL (at MICROKIT_POSTGRES_URL), a pool of 8 open connections
// each: with database/sql's default of 2 idle (SetMaxOpenConns alone), 6 of
// the burst's connections are closed when returned and 6 server sessions
// opened for the next burst; SetPoolSize keeps them. An op is one burst;
// sessions/op counts the server's new sessions (pg_stat_database.sessions,
// PostgreSQL 14 or later).
//
//	go test -run '^$' -bench PoolBursts ./sqldialect
func BenchmarkPoolBursts(b *testing.B) {
	const burst = 8
	for _, tc := range []struct {
		name string
		size func(*sql.DB)
	}{
		{"SetMaxOpenConns", func(db *sql.DB) { db.SetMaxOpenConns(burst) }},
		{"SetPoolSize", func(db *sql.DB) { sqldialect.SetPoolSize(db, burst) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dsn, _ := sqltest.PostgresSchema(b, "pool_bench")
			ctx := context.Background()
			admin, err := sql.Open("pgx", dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer admin.Close()
			if _, err := admin.ExecContext(ctx, "CREATE TABLE rows (id BIGSERIAL PRIMARY KEY, n INTEGER NOT NULL)"); err != nil {
				b.Fatal(err)
			}
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			tc.size(db)
			burstOf(b, db, burst) // the pool's first connections are no one's cost
			before := sessions(b, admin)
			closed := db.Stats().MaxIdleClosed
			for b.Loop() {
				burstOf(b, db, burst)
			}
			b.StopTimer()
			b.ReportMetric(float64(db.Stats().MaxIdleClosed-closed)/float64(b.N), "closed/op")
			b.ReportMetric(float64(sessions(b, admin)-before)/float64(b.N), "sessions/op")
		})
	}
}

// burstOf runs n one-row transactions at once and waits for them.
func burstOf(b *testing.B, db *sql.DB, n int) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tx, err := db.BeginTx(context.Background(), nil)
			if err != nil {
				b.Error(err)
				return
			}
			defer func() { _ = tx.Rollback() }()
			if _, err := tx.ExecContext(context.Background(), "INSERT INTO rows (n) VALUES ($1)", i); err != nil {
				b.Error(err)
				return
			}
			if err := tx.Commit(); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}

// sessions returns how many sessions the server has had on the database.
func sessions(b *testing.B, admin *sql.DB) int64 {
	var n int64
	if err := admin.QueryRowContext(context.Background(),
		"SELECT sessions FROM pg_stat_database WHERE datname = current_database()").Scan(&n); err != nil {
		b.Skipf("PostgreSQL 14 or later counts sessions: %v", err)
	}
	return n
}
