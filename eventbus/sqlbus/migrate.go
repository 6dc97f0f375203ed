package sqlbus

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/sqldialect"
)

// Migrate creates the bus's three tables if they do not exist, in one
// transaction. It is safe to run at every start-up, by several processes
// at once. Option: WithTable.
//
//   - <table>: one row per pack, the messages of one publish statement
//     (up to 64 of them, about 7 kB): seq, tx (the publishing transaction
//     on PostgreSQL, 0 on SQLite), n, types (the messages' types, in
//     order) and body (the messages, see packRows), created_at.
//   - <table>_groups: one row per consumer group (name, pattern) with the
//     pattern as a LIKE expression and token counts, which claims match
//     types against, and the group's cursor (cur_tx, cur_seq): the packs
//     up to it are claimed.
//   - <table>_deliveries: the claims: per group and pack, a row for the
//     messages claimed together, with attempts (the delivery count),
//     visible_at (the end of the visibility timeout) and mask (a bit per
//     message not settled yet); a row per message nacked or released
//     out of its claim; a marker per pack claimed ahead of the cursor.
//
// Times are Unix nanoseconds. Each table has its primary key and no other
// index. A database whose messages table has the layout of sqlbus before
// packs (a row per message, a delivery row per message and group) is
// converted in the same transaction: the messages still waiting for a
// group are kept, with their deliveries' attempts and visibility. Run it
// while no bus of the older layout uses the tables.
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
	stmts := schema(dialect, c.table)
	if _, err := tx.ExecContext(ctx, stmts[0]); err != nil {
		return fmt.Errorf("sqlbus: migrate: %w", err)
	}
	old, err := unpacked(ctx, tx, dialect, c.table)
	if err != nil {
		return fmt.Errorf("sqlbus: migrate: %w", err)
	}
	if old {
		if err := convert(ctx, tx, dialect, c.table); err != nil {
			return fmt.Errorf("sqlbus: migrate: converting the tables of the older layout: %w", err)
		}
	} else {
		for _, stmt := range stmts[1:] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("sqlbus: migrate: %w (in %q)", err, stmt)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlbus: migrate: %w", err)
	}
	return nil
}

// schema returns the migration's statements. The first one serializes
// migrations: on PostgreSQL an advisory lock (concurrent CREATE TABLE IF
// NOT EXISTS can fail there); on SQLite the groups table's creation,
// which on an empty database writes first (a SQLite transaction that
// reads first cannot always write) and is harmless otherwise.
func schema(d sqldialect.Dialect, t string) []string {
	ts := tables(d, t)
	first := ts[1]
	if d == sqldialect.Postgres {
		first = "SELECT pg_advisory_xact_lock(hashtext('microkit.sqlbus." + t + "'))"
	}
	return append([]string{first}, ts...)
}

// unpacked reports whether table t exists with a row per message (the
// layout before packs).
func unpacked(ctx context.Context, tx *sql.Tx, d sqldialect.Dialect, t string) (bool, error) {
	q := `SELECT count(*) FROM pragma_table_info($1) WHERE name = 'id'`
	if d == sqldialect.Postgres {
		q = `SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'id'`
	}
	var n int
	err := tx.QueryRowContext(ctx, q, t).Scan(&n)
	return n > 0, err
}

// convert turns the tables of the layout before packs into the current
// ones in tx: every message that a group has not consumed becomes a pack
// of its own below every group's cursor, its deliveries rows of their own
// (idx 0), and new packs follow the old messages' seq.
func convert(ctx context.Context, tx *sql.Tx, d sqldialect.Dialect, t string) error {
	old, oldDeliveries := t+"_unpacked", t+"_unpacked_deliveries"
	stmts := []string{
		`ALTER TABLE ` + t + ` RENAME TO ` + old,
		`ALTER TABLE ` + t + `_deliveries RENAME TO ` + oldDeliveries,
		`ALTER TABLE ` + t + `_groups ADD COLUMN cur_tx BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE ` + t + `_groups ADD COLUMN cur_seq BIGINT NOT NULL DEFAULT 0`,
	}
	if d == sqldialect.Postgres {
		stmts = append(stmts,
			`ALTER TABLE `+t+`_groups ADD COLUMN snap TXID_SNAPSHOT`,
			// Free the names the new tables' sequence and keys take.
			`ALTER SEQUENCE `+t+`_seq_seq RENAME TO `+old+`_seq_seq`,
			`ALTER INDEX `+t+`_pkey RENAME TO `+old+`_pkey`,
			`ALTER INDEX `+t+`_deliveries_pkey RENAME TO `+oldDeliveries+`_pkey`,
		)
	}
	stmts = append(stmts, tables(d, t)...)
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%w (in %q)", err, stmt)
		}
	}
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM `+old).Scan(&last); err != nil {
		return err
	}
	types := "$2"
	if d == sqldialect.Postgres {
		types = "string_to_array($2, ' ')"
	}
	insert := `INSERT INTO ` + t + ` (seq, tx, n, types, body, created_at) VALUES ($1, 0, 1, ` + types + `, $3, $4)`
	for from := int64(0); ; {
		args, next, err := unpackedChunk(ctx, tx, d, old, oldDeliveries, from)
		if err != nil {
			return err
		}
		if len(args) == 0 {
			break
		}
		for i := 0; i < len(args); i += 4 {
			if _, err := tx.ExecContext(ctx, insert, args[i:i+4]...); err != nil {
				return err
			}
		}
		from = next
	}
	stmts = []string{
		`INSERT INTO ` + t + `_deliveries (group_id, seq, idx, tx, attempts, visible_at, mask, n)
SELECT group_id, seq, 0, 0, attempts, visible_at, 0, 1 FROM ` + oldDeliveries,
		`DROP TABLE ` + oldDeliveries,
		`DROP TABLE ` + old,
	}
	// Every group's cursor passes the old messages (their deliveries
	// carry them), and new packs' seq follow theirs.
	withLast := []string{`UPDATE ` + t + `_groups SET cur_tx = 0, cur_seq = $1`}
	if d == sqldialect.Postgres {
		withLast = append(withLast, `SELECT setval(pg_get_serial_sequence('`+t+`', 'seq'), GREATEST($1, 1), $1 > 0)`)
	} else {
		stmts = append(stmts, `DELETE FROM sqlite_sequence WHERE name = '`+t+`'`)
		withLast = append(withLast, `INSERT INTO sqlite_sequence (name, seq) VALUES ('`+t+`', $1)`)
	}
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%w (in %q)", err, stmt)
		}
	}
	for _, stmt := range withLast {
		if _, err := tx.ExecContext(ctx, stmt, last); err != nil {
			return fmt.Errorf("%w (in %q)", err, stmt)
		}
	}
	return nil
}

// unpackedChunk reads up to 500 messages of the older layout after seq
// from that a group has not consumed, as the arguments of their packs'
// INSERT (seq, types, body, created_at); it returns the last seq read.
func unpackedChunk(ctx context.Context, tx *sql.Tx, d sqldialect.Dialect, old, oldDeliveries string, from int64) ([]any, int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT seq, id, type, source, subject, event_time, content_type, data, metadata, created_at FROM `+old+`
WHERE seq > $1 AND seq IN (SELECT seq FROM `+oldDeliveries+`) ORDER BY seq LIMIT 500`, from)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var args []any
	for rows.Next() {
		var (
			r              row
			seq, createdAt int64
		)
		if err := rows.Scan(&seq, &r.id, &r.typ, &r.source, &r.subject, &r.eventTime, &r.contentType, &r.data, &r.metadata, &createdAt); err != nil {
			return nil, 0, err
		}
		p := packRows([]row{r})[0]
		var types any = typeList(p.types)
		if d != sqldialect.Postgres {
			j, err := json.Marshal(p.types)
			if err != nil {
				return nil, 0, err
			}
			types = string(j)
		}
		args = append(args, seq, types, p.body, createdAt)
		from = seq
	}
	return args, from, rows.Err()
}

// tables returns the CREATE TABLE statements.
func tables(d sqldialect.Dialect, t string) []string {
	if d == sqldialect.Postgres {
		return []string{
			// tx is the publishing transaction's id: claims read the
			// rows in (tx, seq) order, and a row whose tx is below the
			// oldest transaction still running is final (see claimNew).
			// A pack of packBytes stays in the row, uncompressed.
			`CREATE TABLE IF NOT EXISTS ` + t + ` (
	seq BIGSERIAL,
	tx BIGINT NOT NULL DEFAULT txid_current(),
	n INTEGER NOT NULL,
	types TEXT[] NOT NULL,
	body BYTEA NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (tx, seq)
) WITH (toast_tuple_target = 8160)`,
			groupsTable(t, "BIGSERIAL PRIMARY KEY", "\n\tsnap TXID_SNAPSHOT,"),
			deliveriesTable(t),
		}
	}
	return []string{
		// SQLite has one writer: commit order is seq order, tx is 0.
		`CREATE TABLE IF NOT EXISTS ` + t + ` (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	tx BIGINT NOT NULL DEFAULT 0,
	n INTEGER NOT NULL,
	types TEXT NOT NULL,
	body BLOB NOT NULL,
	created_at BIGINT NOT NULL
)`,
		groupsTable(t, "INTEGER PRIMARY KEY AUTOINCREMENT", ""),
		deliveriesTable(t),
	}
}

// groupsTable holds a row per consumer group and its cursor; on
// PostgreSQL also the snapshot of its registration (extra).
func groupsTable(t, serial, extra string) string {
	return `CREATE TABLE IF NOT EXISTS ` + t + `_groups (
	id ` + serial + `,
	name TEXT NOT NULL,
	pattern TEXT NOT NULL,
	type_like TEXT NOT NULL,
	min_dots INTEGER NOT NULL,
	max_dots INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	cur_tx BIGINT NOT NULL DEFAULT 0,
	cur_seq BIGINT NOT NULL DEFAULT 0,` + extra + `
	UNIQUE (name, pattern)
)`
}

// deliveriesTable holds the claims of the groups. Per group and pack, a
// row (idx -2) holds the messages claimed together: mask has a bit per
// message not yet settled, n counts them, attempts and visible_at are
// theirs. A message nacked or released out of such a claim gets a row of
// its own (idx its index, mask 0, n 1). A marker (idx -1) records a pack
// claimed ahead of the group's cursor.
func deliveriesTable(t string) string {
	return `CREATE TABLE IF NOT EXISTS ` + t + `_deliveries (
	group_id BIGINT NOT NULL,
	seq BIGINT NOT NULL,
	idx INTEGER NOT NULL,
	tx BIGINT NOT NULL,
	attempts INTEGER NOT NULL,
	visible_at BIGINT NOT NULL,
	mask BIGINT NOT NULL,
	n INTEGER NOT NULL,
	PRIMARY KEY (group_id, seq, idx)
)`
}
