package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/sqldialect"
)

// Migrate creates the saga table and its index if they do not exist. It is
// idempotent: call it on every start-up, or run [Schema]'s statements with
// your migration tool instead.
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

// Schema returns the statements that create the saga table and its index:
// one row per saga, the step records as JSON text, times as Unix
// nanoseconds (0 for none), and an index that serves Recover's and
// Failed's listing by status.
func Schema(dialect sqldialect.Dialect, opts ...Option) ([]string, error) {
	c, err := newConfig(dialect, opts)
	if err != nil {
		return nil, err
	}
	t := c.table
	return []string{
		"CREATE TABLE IF NOT EXISTS " + t + ` (
	id          TEXT PRIMARY KEY,
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
		"CREATE INDEX IF NOT EXISTS " + t + "_status_idx ON " + t + " (status, created_at)",
	}, nil
}
