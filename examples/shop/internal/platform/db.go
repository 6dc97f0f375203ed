package platform

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-microkit/microkit/sqldialect"
	// Registers the "pgx" database/sql driver.
	_ "github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
)

// DB is one service's database: a SQLite file or a PostgreSQL schema.
// Queries are written with "?" placeholders and rebound for PostgreSQL.
// It is safe for concurrent use.
type DB struct {
	db       *sql.DB
	postgres bool
}

// OpenDB opens dsn: a postgres:// URL (whose search_path parameter, if any,
// names a schema that is created when missing) or else the path of a SQLite
// file.
func OpenDB(ctx context.Context, dsn string) (*DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return openPostgres(ctx, dsn)
	}
	c, err := sqlite.NewConnector(sqliteDSN(dsn))
	if err != nil {
		return nil, fmt.Errorf("platform: open sqlite %s: %w", dsn, err)
	}
	// Statements prepared once per connection: modernc.org/sqlite parses and
	// plans every statement again otherwise, which cost some 12% of the
	// one-process shop's CPU.
	db := sql.OpenDB(sqldialect.CachingConnector(c))
	// One connection: SQLite has one writer, and a single connection turns
	// lock contention into queueing instead of SQLITE_BUSY errors.
	sqldialect.SetPoolSize(db, 1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("platform: open sqlite %s: %w", dsn, err)
	}
	return &DB{db: db}, nil
}

// sqliteDSN is sqldialect.SQLiteDSN(path) with synchronous(NORMAL) in place
// of FULL: the shop's data survives a crash of the process (what its crash
// test checks) but may lose the last transactions on a power cut, in
// exchange for no disk sync per commit (FULL is some 15 times slower).
func sqliteDSN(path string) string {
	return strings.Replace(sqldialect.SQLiteDSN(path), "synchronous(FULL)", "synchronous(NORMAL)", 1)
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("platform: parse postgres dsn: %w", err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("platform: open postgres: %w", err)
	}
	// As many idle connections as open ones: with database/sql's default of
	// 2 idle, most transactions closed their connection on return and the
	// next one opened a new PostgreSQL session.
	sqldialect.SetPoolSize(db, 8)
	if schema := u.Query().Get("search_path"); schema != "" {
		if !validIdent(schema) {
			db.Close()
			return nil, fmt.Errorf("platform: bad schema name %q", schema)
		}
		if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
			db.Close()
			return nil, fmt.Errorf("platform: create schema %s: %w", schema, err)
		}
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("platform: open postgres: %w", err)
	}
	return &DB{db: db, postgres: true}, nil
}

func validIdent(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// SQL returns the underlying pool, for the saga store.
func (d *DB) SQL() *sql.DB { return d.db }

// Dialect returns the dialect of the database, for the SQL stores.
func (d *DB) Dialect() sqldialect.Dialect {
	if d.postgres {
		return sqldialect.Postgres
	}
	return sqldialect.SQLite
}

// Close closes the pool.
func (d *DB) Close() error { return d.db.Close() }

// Ping checks that the database answers; it is a readiness check.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// Migrate runs the statements in order; each must be idempotent
// (CREATE TABLE IF NOT EXISTS ...).
func (d *DB) Migrate(ctx context.Context, stmts ...string) error {
	for _, s := range stmts {
		if _, err := d.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("platform: migrate: %w", err)
		}
	}
	return nil
}

// AddColumn adds the column named name, defined by def (its name, type
// and constraints, as in CREATE TABLE), to table unless it has it: the
// migration of a table created before the column existed. SQLite has no ADD COLUMN IF
// NOT EXISTS, so there the table's columns are read first.
func (d *DB) AddColumn(ctx context.Context, table, name, def string) error {
	if d.postgres {
		if _, err := d.db.ExecContext(ctx, "ALTER TABLE "+table+" ADD COLUMN IF NOT EXISTS "+def); err != nil {
			return fmt.Errorf("platform: add column %s.%s: %w", table, name, err)
		}
		return nil
	}
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, table, name).Scan(&n); err != nil {
		return fmt.Errorf("platform: add column %s.%s: %w", table, name, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := d.db.ExecContext(ctx, "ALTER TABLE "+table+" ADD COLUMN "+def); err != nil {
		return fmt.Errorf("platform: add column %s.%s: %w", table, name, err)
	}
	return nil
}

// Postgres reports whether the database is PostgreSQL (else SQLite).
func (d *DB) Postgres() bool { return d.postgres }

// Rebind turns the "?" placeholders of q into PostgreSQL's "$n" when the
// database is PostgreSQL, for statements run on a *sql.Tx directly.
func (d *DB) Rebind(q string) string { return d.rebind(q) }

// rebind turns "?" placeholders into PostgreSQL's "$n".
func (d *DB) rebind(q string) string {
	if !d.postgres {
		return q
	}
	var b strings.Builder
	n := 0
	// Bytes, not runes: '?' is ASCII, and invalid UTF-8 must pass unchanged.
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Exec runs a statement.
func (d *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return d.db.ExecContext(ctx, d.rebind(q), args...)
}

// Query runs a query.
func (d *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return d.db.QueryContext(ctx, d.rebind(q), args...)
}

// QueryRow runs a query that returns at most one row.
func (d *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return d.db.QueryRowContext(ctx, d.rebind(q), args...)
}

// Tx runs fn in a transaction, committed when fn returns nil.
func (d *DB) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	t, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("platform: begin: %w", err)
	}
	if err := fn(&Tx{tx: t, d: d}); err != nil {
		return errors.Join(err, ignoreDone(t.Rollback()))
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("platform: commit: %w", err)
	}
	return nil
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// Tx is a transaction begun by DB.Tx.
type Tx struct {
	tx *sql.Tx
	d  *DB
}

// SQL returns the underlying transaction, for outbox.Add.
func (t *Tx) SQL() *sql.Tx { return t.tx }

// Exec runs a statement in the transaction.
func (t *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.d.rebind(q), args...)
}

// Query runs a query in the transaction.
func (t *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.d.rebind(q), args...)
}

// QueryRow runs a query that returns at most one row in the transaction.
func (t *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.d.rebind(q), args...)
}

// Bind returns tx, a transaction begun on d's pool by someone else (a saga
// store running a local step), as a Tx that rebinds placeholders.
func (d *DB) Bind(tx *sql.Tx) *Tx { return &Tx{tx: tx, d: d} }
