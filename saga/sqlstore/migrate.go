package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

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
	for _, stmt := range stmts {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlstore: migrate: %w", err)
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
	return []string{
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
	updated_at  BIGINT NOT NULL
)`,
		"CREATE INDEX IF NOT EXISTS " + t + "_created_idx ON " + t + " (" + order,
		"CREATE INDEX IF NOT EXISTS " + t + "_status_created_idx ON " + t + " (status, " + order,
		"CREATE INDEX IF NOT EXISTS " + t + "_name_idx ON " + t + " (name, status, " + order,
		// A (status, created_at) index, where a table has one, serves
		// nothing the one above does not, at a cost to every insert.
		"DROP INDEX IF EXISTS " + t + "_status_idx",
	}, nil
}
