package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/sqldialect"
)

// Migrate creates the saga table and its indexes if they do not exist.
// It is idempotent: call it on every start-up, or run [Schema]'s
// statements with your migration tool instead.
func Migrate(ctx context.Context, db *sql.DB, dialect sqldialect.Dialect, opts ...Option) error {
	stmts, err := Schema(dialect, opts...)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	c, _ := newConfig(dialect, opts) // valid: Schema took them
	// The waiters' marks of the sagas that wait are written once, by the
	// Migrate that adds the waiter column: afterwards every park writes
	// its own, and the look at every waiting saga would slow each
	// start-up down for nothing.
	marked, err := hasColumn(ctx, db, dialect, c.table+"_signals", "waiter")
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	for _, stmt := range stmts {
		if marked && strings.HasPrefix(stmt, markWaitingPrefix(c.table)) {
			continue
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlstore: migrate: %w", err)
		}
		if dialect != sqldialect.SQLite {
			continue
		}
		for _, t := range addedColumns(c.table) {
			if strings.HasPrefix(stmt, "CREATE TABLE IF NOT EXISTS "+t.table+" (") {
				if err := addColumns(ctx, db, t.table, t.columns); err != nil {
					return fmt.Errorf("sqlstore: migrate: %w", err)
				}
			}
		}
	}
	return nil
}

// column is a column added to a table after its first version: a table
// created before it gets it, with its default.
type column struct{ name, def string }

// waitColumns are the saga table's columns for waiting sagas.
var waitColumns = []column{
	{"wait_key", "wait_key    TEXT NOT NULL DEFAULT ''"},
	{"wake_at", "wake_at     BIGINT NOT NULL DEFAULT 0"},
}

// signalColumnsAdded are the signals table's columns added to it: the
// waiter a park names in the key's row (see Store.Park).
var signalColumnsAdded = []column{
	{"waiter", "waiter     TEXT NOT NULL DEFAULT ''"},
}

// tableColumns are the columns added to one table.
type tableColumns struct {
	table   string
	columns []column
}

// addedColumns lists the columns added to the saga table and the signals
// table, for Migrate on SQLite.
func addedColumns(table string) []tableColumns {
	return []tableColumns{{table, waitColumns}, {table + "_signals", signalColumnsAdded}}
}

// hasColumn reports whether table exists with column.
func hasColumn(ctx context.Context, db *sql.DB, d sqldialect.Dialect, table, column string) (bool, error) {
	q := "SELECT count(*) FROM pragma_table_info(?) WHERE name = ?"
	if d == sqldialect.Postgres {
		q = "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2"
	}
	var n int
	if err := db.QueryRowContext(ctx, q, table, column).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// markWaitingPrefix begins Schema's statement that writes the waiters'
// marks of the sagas that wait.
func markWaitingPrefix(table string) string { return "INSERT INTO " + table + "_signals (" }

// addColumns adds the columns that the SQLite table lacks: SQLite's ALTER
// TABLE has no ADD COLUMN IF NOT EXISTS.
func addColumns(ctx context.Context, db *sql.DB, table string, columns []column) error {
	for _, c := range columns {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info(?) WHERE name = ?", table, c.name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if _, err := db.ExecContext(ctx, "ALTER TABLE "+table+" ADD COLUMN "+c.def); err != nil {
				return err
			}
		}
	}
	return nil
}

// Schema returns the statements that create the saga table and its
// indexes: one row per saga, the step records as JSON text, and times as
// Unix nanoseconds (0 for none).
//
// Three indexes serve [Store.List] (and Recover's and Failed's listings),
// each in the listing's full order, (created_at, id), so that a page is
// read from the index in order, seeked to its cursor: on created_at, id
// for all records; on status, created_at, id for one status; on name,
// status, created_at, id for one saga's records in one status. An
// IDPrefix reads a range of the primary key, which on PostgreSQL compares
// bytes (COLLATE "C") like the listings' order, so that the range is exact
// under any database collation. The other filters (several statuses, a
// name alone, UpdatedBefore) narrow the scan of one of these indexes.
// UpdatedBefore has no index of its own: updated_at changes on every
// write, and an index on it would cost each write an index update. Of the indexed columns, writes
// change only status: the indexes cost a saga's creation and its changes
// of status, and its other transitions stay, on PostgreSQL, heap-only
// updates that touch no index.
//
// Waiting sagas (saga.Wait) use two columns, wait_key and wake_at, each
// with a partial index that holds the waiting sagas only: Signal finds a
// saga by its key, and the timer loop finds the due ones and the next
// wake-up, in a read of a few index entries however many sagas wait. A
// table created before these columns gets them from Migrate (on
// PostgreSQL, Schema's ALTER TABLE ... ADD COLUMN IF NOT EXISTS; SQLite
// has no IF NOT EXISTS there, so Schema leaves them out and Migrate adds
// those missing). The table "<table>_signals" keeps the signals by key,
// with an index on created_at for their pruning and a partial one of the
// pending signals, for the timer loop's look for parked sagas whose
// signal came while no orchestrator could deliver it. A park writes its
// key's row too, a waiter's mark (timed_out -1, the saga in its waiter
// column) that the key's signal replaces, so that a park and a signal
// for one key meet in one row (see [Store.Park]); the Migrate that adds
// the waiter column writes the marks of the sagas that wait already. Until it has, and while
// processes of an older version park sagas, a signal for a saga parked
// without a mark waits for the timer loop's look for pending signals.
//
// On PostgreSQL, a table whose id column has another collation lists the
// same records, with an IDPrefix filtered rather than seeked (ALTER TABLE
// ... ALTER COLUMN id TYPE TEXT COLLATE "C" rebuilds its primary key to
// seek). On a large table, create the indexes CONCURRENTLY by hand before
// Migrate, which otherwise blocks writes while it builds them.
func Schema(dialect sqldialect.Dialect, opts ...Option) ([]string, error) {
	c, err := newConfig(dialect, opts)
	if err != nil {
		return nil, err
	}
	t := c.table
	id := "id          TEXT PRIMARY KEY"
	if dialect == sqldialect.Postgres {
		id = `id          TEXT COLLATE "C" PRIMARY KEY`
	}
	order := "created_at, " + idBytewise(dialect) + ")"
	stmts := []string{
		"CREATE TABLE IF NOT EXISTS " + t + ` (
	` + id + `,
	name        TEXT NOT NULL,
	status      TEXT NOT NULL,
	version     BIGINT NOT NULL,
	state       ` + sqldb.BlobType(dialect) + ` NOT NULL,
	steps       TEXT NOT NULL,
	owner       TEXT NOT NULL,
	lease_until BIGINT NOT NULL,
	deadline    BIGINT NOT NULL,
	error       TEXT NOT NULL,
	note        TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	` + waitColumns[0].def + `,
	` + waitColumns[1].def + `
)`}
	if dialect == sqldialect.Postgres {
		for _, c := range waitColumns {
			stmts = append(stmts, "ALTER TABLE "+t+" ADD COLUMN IF NOT EXISTS "+c.def)
		}
	}
	stmts = append(stmts,
		"CREATE INDEX IF NOT EXISTS "+t+"_created_idx ON "+t+" ("+order,
		"CREATE INDEX IF NOT EXISTS "+t+"_status_created_idx ON "+t+" (status, "+order,
		"CREATE INDEX IF NOT EXISTS "+t+"_name_idx ON "+t+" (name, status, "+order,
		// A (status, created_at) index, where a table has one, serves
		// nothing the one above does not, at a cost to every insert.
		"DROP INDEX IF EXISTS "+t+"_status_idx",
		// Partial indexes: only the waiting sagas are in them, so they
		// cost nothing to the others' writes.
		"CREATE INDEX IF NOT EXISTS "+t+"_wait_key_idx ON "+t+" (wait_key) WHERE wait_key <> ''",
		"CREATE INDEX IF NOT EXISTS "+t+"_wake_idx ON "+t+" (wake_at) WHERE wake_at > 0",
		"CREATE TABLE IF NOT EXISTS "+t+`_signals (
	key        TEXT PRIMARY KEY,
	type       TEXT NOT NULL,
	payload    `+sqldb.BlobType(dialect)+` NOT NULL,
	saga_id    TEXT NOT NULL,
	timed_out  BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	`+signalColumnsAdded[0].def+`
)`)
	if dialect == sqldialect.Postgres {
		for _, c := range signalColumnsAdded {
			stmts = append(stmts, "ALTER TABLE "+t+"_signals ADD COLUMN IF NOT EXISTS "+c.def)
		}
	}
	emptyBlob := "X''"
	if dialect == sqldialect.Postgres {
		emptyBlob = "''::BYTEA"
	}
	return append(stmts,
		"CREATE INDEX IF NOT EXISTS "+t+"_signals_created_idx ON "+t+"_signals (created_at)",
		"CREATE INDEX IF NOT EXISTS "+t+"_signals_pending_idx ON "+t+"_signals (key) WHERE saga_id = '' AND timed_out = 0",
		// The waiters' marks of sagas parked before the marks existed.
		markWaitingPrefix(t)+signalColumns+", waiter) SELECT wait_key, '', "+emptyBlob+", '', -1, updated_at, id FROM "+t+
			" WHERE status = 'waiting' AND wait_key <> '' ON CONFLICT (key) DO NOTHING",
	), nil
}
