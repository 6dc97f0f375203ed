package outbox

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/go-microkit/microkit/sqldialect"
)

// Migrate creates the outbox and inbox tables and their indexes if they do
// not exist, in one transaction; on PostgreSQL it also (re)creates the
// trigger that sends NOTIFY on the channel named after the outbox table
// whenever events are added, which package pgnotify listens to. It is safe
// to run at every start-up, by several processes at once. Options:
// WithTable, WithInboxTable.
//
// The outbox table holds one row per event: seq (the publishing order), id,
// type, subject, envelope (the CloudEvents JSON of eventbus.Marshal),
// created_at, sent_at (NULL until published), attempts and last_error (of
// failed publishes). The inbox table holds (consumer, id, processed_at).
// Times are Unix nanoseconds.
func Migrate(ctx context.Context, db *sql.DB, dialect sqldialect.Dialect, opts ...Option) error {
	if err := checkDialect(dialect); err != nil {
		return fmt.Errorf("outbox: migrate: %w", err)
	}
	c, err := newConfig(opts)
	if err != nil {
		return fmt.Errorf("outbox: migrate: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("outbox: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, stmt := range schema(dialect, c.table, c.inboxTable) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("outbox: migrate: %w (in %q)", err, stmt)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("outbox: migrate: %w", err)
	}
	return nil
}

// schema returns the migration's statements.
func schema(d sqldialect.Dialect, table, inbox string) []string {
	seq, blob := "INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"
	var stmts []string
	if d == sqldialect.Postgres {
		seq, blob = "BIGSERIAL PRIMARY KEY", "BYTEA"
		// Concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL:
		// serialize migrations of this table.
		stmts = append(stmts, "SELECT pg_advisory_xact_lock(hashtext('microkit.outbox."+table+"'))")
	}
	stmts = append(stmts,
		`CREATE TABLE IF NOT EXISTS `+table+` (
	seq `+seq+`,
	id TEXT NOT NULL,
	type TEXT NOT NULL,
	subject TEXT NOT NULL,
	envelope `+blob+` NOT NULL,
	created_at BIGINT NOT NULL,
	sent_at BIGINT,
	attempts INTEGER NOT NULL DEFAULT 0,
	last_error TEXT
)`,
		`CREATE INDEX IF NOT EXISTS `+table+`_unsent ON `+table+` (seq) WHERE sent_at IS NULL`,
		`CREATE INDEX IF NOT EXISTS `+table+`_unsent_subject ON `+table+` (subject, seq) WHERE sent_at IS NULL`,
		`CREATE INDEX IF NOT EXISTS `+table+`_sent ON `+table+` (sent_at) WHERE sent_at IS NOT NULL`,
		`CREATE TABLE IF NOT EXISTS `+inbox+` (
	consumer TEXT NOT NULL,
	id TEXT NOT NULL,
	processed_at BIGINT NOT NULL,
	PRIMARY KEY (consumer, id)
)`,
		`CREATE INDEX IF NOT EXISTS `+inbox+`_processed ON `+inbox+` (processed_at)`,
	)
	if d == sqldialect.Postgres {
		stmts = append(stmts,
			`CREATE OR REPLACE FUNCTION `+table+`_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('`+table+`', '');
	RETURN NULL;
END
$$`,
			`DROP TRIGGER IF EXISTS `+table+`_notify ON `+table,
			`CREATE TRIGGER `+table+`_notify AFTER INSERT ON `+table+` FOR EACH STATEMENT EXECUTE FUNCTION `+table+`_notify()`,
		)
	}
	return stmts
}
