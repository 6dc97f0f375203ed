package sqlbus

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/sqldialect"
)

// Migrate creates the bus's three tables and their indexes if they do not
// exist, in one transaction. It is safe to run at every start-up, by
// several processes at once. Option: WithTable.
//
//   - <table>: one row per message published: seq (the publishing
//     order), the envelope's attributes in columns of their own, data,
//     metadata (JSON) and created_at.
//   - <table>_groups: one row per consumer group (name, pattern) with the
//     pattern as a LIKE expression and token counts, which publishes
//     match types against.
//   - <table>_deliveries: one row per message and group that has not
//     consumed it yet: attempts (the delivery count) and visible_at (when
//     it may be claimed: 0 for a new delivery, the end of the visibility
//     timeout for a claimed one, the end of the delay for a nacked one).
//
// Times are Unix nanoseconds. Each table has its primary key and no other
// index: every index is written by every publish, and, on a disk that
// flushes slowly, is what a publish waits for.
func Migrate(ctx context.Context, db *sql.DB, dialect sqldialect.Dialect, opts ...Option) error {
	if err := sqldb.Check(dialect); err != nil {
		return fmt.Errorf("sqlbus: migrate: %w", invalid("%v", err))
	}
	c, err := newConfig(opts)
	if err != nil {
		return fmt.Errorf("sqlbus: migrate: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlbus: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, stmt := range schema(dialect, c.table) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlbus: migrate: %w (in %q)", err, stmt)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlbus: migrate: %w", err)
	}
	return nil
}

// schema returns the migration's statements.
func schema(d sqldialect.Dialect, t string) []string {
	serial, blob := "INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"
	var stmts []string
	if d == sqldialect.Postgres {
		serial, blob = "BIGSERIAL PRIMARY KEY", "BYTEA"
		// Concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL:
		// serialize migrations of these tables.
		stmts = append(stmts, "SELECT pg_advisory_xact_lock(hashtext('microkit.sqlbus."+t+"'))")
	}
	return append(stmts,
		`CREATE TABLE IF NOT EXISTS `+t+` (
	seq `+serial+`,
	id TEXT NOT NULL,
	type TEXT NOT NULL,
	source TEXT NOT NULL,
	subject TEXT NOT NULL,
	event_time BIGINT NOT NULL,
	content_type TEXT NOT NULL,
	data `+blob+` NOT NULL,
	metadata TEXT NOT NULL,
	created_at BIGINT NOT NULL
)`,
		`CREATE TABLE IF NOT EXISTS `+t+`_groups (
	id `+serial+`,
	name TEXT NOT NULL,
	pattern TEXT NOT NULL,
	type_like TEXT NOT NULL,
	min_dots INTEGER NOT NULL,
	max_dots INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	UNIQUE (name, pattern)
)`,
		`CREATE TABLE IF NOT EXISTS `+t+`_deliveries (
	group_id BIGINT NOT NULL,
	seq BIGINT NOT NULL,
	attempts INTEGER NOT NULL,
	visible_at BIGINT NOT NULL,
	PRIMARY KEY (group_id, seq)
)`,
	)
}
