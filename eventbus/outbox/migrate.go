package outbox

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/go-microkit/microkit/sqldialect"
)

// Migrate creates the outbox and inbox tables and their indexes if they do
// not exist, in one transaction. It is safe to run at every start-up, by
// several processes at once. Options: WithTable, WithInboxTable, and on
// PostgreSQL WithNotifyTrigger.
//
// On PostgreSQL, Migrate installs no NOTIFY trigger unless given
// WithNotifyTrigger, and drops the trigger and its function where they
// exist: a transaction that sends NOTIFY commits one at a time with every
// other such transaction. An idle relay is woken instead by the
// producer: with a Signal (its Waker) when it runs in the producer's
// process, and through package pgnotify when it runs in another one (the
// producer calls a pgnotify.Notifier's Notify after its commits, the relay
// has a pgnotify.Listener as its Waker). Polling stays the safety net.
//
// The outbox table holds one row per event: seq (the order of addition),
// id, type, subject, envelope (the CloudEvents JSON of eventbus.Marshal),
// created_at, due_at (when a scheduled event is due; 0 for the events of
// Add), sent_at (NULL until published), attempts and last_error (of
// failed publishes). The inbox table holds (consumer, id, processed_at).
// Times are Unix nanoseconds.
//
// Migrate upgrades an outbox table created before due_at existed: it adds
// the column with default 0 (so the events waiting in it stay unscheduled;
// on PostgreSQL 11 or later a constant default does not rewrite the
// table) and the index that the relay's query for due events reads. Every
// relay on the table must be of a version that knows due_at before events
// are scheduled: an older one would publish them at once.
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
	tables, rest := schema(dialect, c.table, c.inboxTable)
	if err := execAll(ctx, tx, tables); err != nil {
		return err
	}
	if err := addDueAt(ctx, tx, dialect, c.table); err != nil {
		return err
	}
	if err := execAll(ctx, tx, rest); err != nil {
		return err
	}
	if dialect == sqldialect.Postgres {
		if err := setNotifyTrigger(ctx, tx, c.table, c.notifyTrigger); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("outbox: migrate: %w", err)
	}
	return nil
}

func execAll(ctx context.Context, tx *sql.Tx, stmts []string) error {
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("outbox: migrate: %w (in %q)", err, stmt)
		}
	}
	return nil
}

// addDueAt adds the column due_at to an outbox table that lacks it.
// SQLite has no ADD COLUMN IF NOT EXISTS: it asks the table's columns
// first, inside the migration's transaction.
func addDueAt(ctx context.Context, tx *sql.Tx, d sqldialect.Dialect, table string) error {
	const add = " ADD COLUMN due_at BIGINT NOT NULL DEFAULT 0"
	if d == sqldialect.Postgres {
		return execAll(ctx, tx, []string{"ALTER TABLE " + table + " ADD COLUMN IF NOT EXISTS due_at BIGINT NOT NULL DEFAULT 0"})
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM pragma_table_info('"+table+"') WHERE name = 'due_at'").Scan(&n); err != nil {
		return fmt.Errorf("outbox: migrate: columns of %s: %w", table, err)
	}
	if n > 0 {
		return nil
	}
	return execAll(ctx, tx, []string{"ALTER TABLE " + table + add})
}

// schema returns the migration's statements: those that create the
// tables, and those to run once the outbox table has every column.
func schema(d sqldialect.Dialect, table, inbox string) (tables, rest []string) {
	seq, blob := "INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"
	if d == sqldialect.Postgres {
		seq, blob = "BIGSERIAL PRIMARY KEY", "BYTEA"
		// Concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL:
		// serialize migrations of this table.
		tables = append(tables, "SELECT pg_advisory_xact_lock(hashtext('microkit.outbox."+table+"'))")
	}
	tables = append(tables,
		`CREATE TABLE IF NOT EXISTS `+table+` (
	seq `+seq+`,
	id TEXT NOT NULL,
	type TEXT NOT NULL,
	subject TEXT NOT NULL,
	envelope `+blob+` NOT NULL,
	created_at BIGINT NOT NULL,
	due_at BIGINT NOT NULL DEFAULT 0,
	sent_at BIGINT,
	attempts INTEGER NOT NULL DEFAULT 0,
	last_error TEXT
)`,
		`CREATE TABLE IF NOT EXISTS `+inbox+` (
	consumer TEXT NOT NULL,
	id TEXT NOT NULL,
	processed_at BIGINT NOT NULL,
	PRIMARY KEY (consumer, id)
)`,
	)
	rest = []string{
		// The index on (seq) of unsent events that the relay read before
		// events could be scheduled: _due serves every query it served.
		`DROP INDEX IF EXISTS ` + table + `_unsent`,
		`CREATE INDEX IF NOT EXISTS ` + table + `_unsent_subject ON ` + table + ` (subject, seq) WHERE sent_at IS NULL`,
		// The relay's query: the unsent events due by now, in the order
		// (due_at, seq) it publishes them. Events scheduled later lie past
		// the range it reads, so however many wait, a round reads only
		// what it publishes.
		`CREATE INDEX IF NOT EXISTS ` + table + `_due ON ` + table + ` (due_at, seq) WHERE sent_at IS NULL`,
		`CREATE INDEX IF NOT EXISTS ` + table + `_sent ON ` + table + ` (sent_at) WHERE sent_at IS NOT NULL`,
		`CREATE INDEX IF NOT EXISTS ` + inbox + `_processed ON ` + inbox + ` (processed_at)`,
	}
	return tables, rest
}

// setNotifyTrigger installs the outbox table's NOTIFY trigger and its
// function if on, and drops them otherwise. Creating or dropping a trigger
// locks the table against writers (dropping, against readers too) until
// the migration commits, so the trigger is created only if missing and
// dropped only if present, not at every start-up.
func setNotifyTrigger(ctx context.Context, tx *sql.Tx, table string, on bool) error {
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2)`,
		table, table+"_notify").Scan(&exists); err != nil {
		return fmt.Errorf("outbox: migrate: triggers of %s: %w", table, err)
	}
	if !on {
		drop := []string{`DROP FUNCTION IF EXISTS ` + table + `_notify()`}
		if exists {
			drop = append([]string{`DROP TRIGGER ` + table + `_notify ON ` + table}, drop...)
		}
		return execAll(ctx, tx, drop)
	}
	create := []string{`CREATE OR REPLACE FUNCTION ` + table + `_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('` + table + `', '');
	RETURN NULL;
END
$$`}
	if !exists {
		create = append(create, `CREATE TRIGGER `+table+`_notify AFTER INSERT ON `+table+` FOR EACH STATEMENT EXECUTE FUNCTION `+table+`_notify()`)
	}
	return execAll(ctx, tx, create)
}
