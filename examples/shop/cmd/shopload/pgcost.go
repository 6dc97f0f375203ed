package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgSettle is how long shopload waits after the last order before it reads
// the counters a second time. A PostgreSQL 15+ backend publishes its
// counters when it goes idle, but at most once a second: one that went idle
// less than a second after its last report publishes them 10 seconds later
// (PGSTAT_IDLE_INTERVAL). Read at once, the counters would miss the last
// second of load; the shop's background work during the wait (relays
// polling their outboxes) adds a few transactions.
const pgSettle = 11 * time.Second

// pgCounters is one reading of the shop database's row in
// pg_stat_database. The counters are cumulative since the server's
// statistics were last reset, and count every client of the database.
type pgCounters struct {
	database     string
	transactions int64 // xact_commit + xact_rollback
	sessions     int64 // sessions established (PostgreSQL 14+)
	blocksHit    int64 // blocks found in shared buffers
	blocksRead   int64 // blocks read from the operating system
	rowsWritten  int64 // tup_inserted + tup_updated + tup_deleted
}

// pgSampler reads pg_stat_database over one connection, opened before the
// first reading so that the sampler's own session is not counted between
// two readings; each reading is one short transaction.
type pgSampler struct {
	conn *pgx.Conn
}

// dialPG connects to the database at dsn, whose counters the sampler reads.
func dialPG(ctx context.Context, dsn string) (*pgSampler, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &pgSampler{conn: conn}, nil
}

// sample reads the counters of the connection's database.
func (s *pgSampler) sample(ctx context.Context) (pgCounters, error) {
	var c pgCounters
	err := s.conn.QueryRow(ctx, `SELECT datname, xact_commit + xact_rollback, sessions, blks_hit, blks_read,
		tup_inserted + tup_updated + tup_deleted
		FROM pg_stat_database WHERE datname = current_database()`).
		Scan(&c.database, &c.transactions, &c.sessions, &c.blocksHit, &c.blocksRead, &c.rowsWritten)
	if err != nil {
		return pgCounters{}, fmt.Errorf("postgres: read pg_stat_database (PostgreSQL 14+): %w", err)
	}
	return c, nil
}

// close closes the connection.
func (s *pgSampler) close(ctx context.Context) error {
	return s.conn.Close(ctx)
}

// pgCost is what the database did between two readings, in total and per
// answered order.
type pgCost struct {
	delta  pgCounters
	orders int
	// The per-order figures are zero when no order was answered.
	transactionsPerOrder float64
	sessionsPerOrder     float64
	blocksPerOrder       float64 // hit + read
	blocksReadPerOrder   float64
	rowsWrittenPerOrder  float64
}

// errCountersReset reports that a counter went down between two readings:
// the statistics were reset (pg_stat_reset) or the server restarted.
var errCountersReset = errors.New("postgres: pg_stat_database counters went down: statistics reset during the run")

// costOf returns the difference between the readings before and after, and
// that difference divided by orders.
func costOf(before, after pgCounters, orders int) (pgCost, error) {
	d := pgCounters{
		database:     after.database,
		transactions: after.transactions - before.transactions,
		sessions:     after.sessions - before.sessions,
		blocksHit:    after.blocksHit - before.blocksHit,
		blocksRead:   after.blocksRead - before.blocksRead,
		rowsWritten:  after.rowsWritten - before.rowsWritten,
	}
	if d.transactions < 0 || d.sessions < 0 || d.blocksHit < 0 || d.blocksRead < 0 || d.rowsWritten < 0 {
		return pgCost{}, errCountersReset
	}
	c := pgCost{delta: d, orders: orders}
	if orders > 0 {
		n := float64(orders)
		c.transactionsPerOrder = float64(d.transactions) / n
		c.sessionsPerOrder = float64(d.sessions) / n
		c.blocksPerOrder = float64(d.blocksHit+d.blocksRead) / n
		c.blocksReadPerOrder = float64(d.blocksRead) / n
		c.rowsWrittenPerOrder = float64(d.rowsWritten) / n
	}
	return c, nil
}

// String is the line shopload prints under its orders line.
func (c pgCost) String() string {
	total := fmt.Sprintf("[%d transactions, %d new sessions in database %s]", c.delta.transactions, c.delta.sessions, c.delta.database)
	if c.orders == 0 {
		return "postgres: no orders answered " + total
	}
	return fmt.Sprintf("postgres: %.2f transactions/order, %.3f new sessions/order, %.1f blocks/order (%.2f read), %.1f rows written/order %s",
		c.transactionsPerOrder, c.sessionsPerOrder, c.blocksPerOrder, c.blocksReadPerOrder, c.rowsWrittenPerOrder, total)
}
