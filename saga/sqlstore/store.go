package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/sqldialect"
)

// ErrInvalidOption wraps every error of an invalid option.
var ErrInvalidOption = errors.New("sqlstore: invalid option")

// Option configures a [Store] and [Migrate].
type Option func(*config) error

type config struct {
	table string
}

// WithTable sets the table name (default "microkit_sagas"). It must be a
// plain identifier; to use a PostgreSQL schema, set the connection's
// search_path.
func WithTable(name string) Option {
	return func(c *config) error {
		if err := validIdent(name); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidOption, err)
		}
		c.table = name
		return nil
	}
}

func newConfig(d sqldialect.Dialect, opts []Option) (config, error) {
	c := config{table: "microkit_sagas"}
	if err := checkDialect(d); err != nil {
		return c, err
	}
	for _, opt := range opts {
		if opt == nil {
			continue // a nil Option is no option
		}
		if err := opt(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Store is a [saga.Store], [saga.TxStore], [saga.WaitStore] and
// [saga.ParkStore] on a database/sql database. It is safe for concurrent
// use.
//
// On PostgreSQL each transition is one autocommitted statement (the WAL
// groups concurrent commits); size the *sql.DB's pool with
// sqldialect.SetPoolSize to at least the sagas you drive at once, or
// database/sql reconnects on most transitions. On SQLite, which has a
// single writer, the store queues this process's writes and commits those
// that arrived together in one transaction (group commit): each caller
// still returns only once its own write is committed, and with
// sqldialect.SQLiteDSN's synchronous(FULL) the sagas run at once share one
// disk sync per commit.
type Store struct {
	db      *sql.DB
	dialect sqldialect.Dialect
	insert  string
	update  string
	get     string
	list    string // without the conditions, the order and the limit
	idExpr  string // the id column compared byte by byte
	table   string
	signals signalQueries
	park    parkQueries
	// group batches this process's writes on SQLite, which has a single
	// writer: they queue here instead of in SQLite's busy handler (which
	// polls with sleeps of up to 100ms) and share commits. PostgreSQL
	// writes are autocommitted statements: its WAL already groups
	// concurrent commits.
	group groupCommit
}

const columns = "id, name, status, version, state, steps, owner, lease_until, deadline, error, note, created_at, updated_at, wait_key, wake_at"

// New returns a store over db, whose table [Migrate] created. It returns an
// error wrapping ErrInvalidOption for a nil db, a dialect other than
// sqldialect.Postgres or sqldialect.SQLite, or a bad option.
func New(db *sql.DB, dialect sqldialect.Dialect, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: nil db", ErrInvalidOption)
	}
	c, err := newConfig(dialect, opts)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: new: %w", err)
	}
	d, t := dialect, c.table
	s := &Store{
		db: db, dialect: d, table: t,
		insert: "INSERT INTO " + t + " (" + columns + ") VALUES (" + sqldb.Placeholders(d, 1, 15) + ") ON CONFLICT (id) DO NOTHING",
		update: "UPDATE " + t + " SET status = " + sqldb.Placeholder(d, 1) + ", version = version + 1, state = " + sqldb.Placeholder(d, 2) +
			", steps = " + sqldb.Placeholder(d, 3) + ", owner = " + sqldb.Placeholder(d, 4) + ", lease_until = " + sqldb.Placeholder(d, 5) +
			", deadline = " + sqldb.Placeholder(d, 6) + ", error = " + sqldb.Placeholder(d, 7) + ", note = " + sqldb.Placeholder(d, 8) +
			", updated_at = " + sqldb.Placeholder(d, 9) + ", wait_key = " + sqldb.Placeholder(d, 10) + ", wake_at = " + sqldb.Placeholder(d, 11) +
			" WHERE id = " + sqldb.Placeholder(d, 12) + " AND version = " + sqldb.Placeholder(d, 13),
		get:     "SELECT " + columns + " FROM " + t + " WHERE id = " + sqldb.Placeholder(d, 1),
		list:    "SELECT " + columns + " FROM " + t,
		idExpr:  idBytewise(d),
		signals: newSignalQueries(d, t),
	}
	s.park = newParkQueries(d, t, s.insert, s.update)
	return s, nil
}

// Create implements [saga.Store].
func (s *Store) Create(ctx context.Context, r *saga.Record) error {
	args, err := s.writeArgs(r, true)
	if err != nil {
		return fmt.Errorf("sqlstore: create %q: %w", r.ID, err)
	}
	n, err := s.exec(ctx, s.insert, args...)
	if err != nil {
		return fmt.Errorf("sqlstore: create %q: %w", r.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: create %q: %w", r.ID, saga.ErrDuplicate)
	}
	r.Version = 1
	return nil
}

// Update implements [saga.Store] with one UPDATE ... WHERE id AND version.
func (s *Store) Update(ctx context.Context, r *saga.Record) error {
	args, err := s.writeArgs(r, false)
	if err != nil {
		return fmt.Errorf("sqlstore: update %q: %w", r.ID, err)
	}
	n, err := s.exec(ctx, s.update, args...)
	if err != nil {
		return fmt.Errorf("sqlstore: update %q: %w", r.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: update %q: %w", r.ID, s.writeMissed(ctx, r, false))
	}
	r.Version++
	return nil
}

// exec runs a write and returns the rows it affected: in the transaction
// of InTx if ctx has one (on SQLite it may hold the only connection, which
// the group commit would wait for).
func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	if tx := s.txFrom(ctx); tx != nil {
		return execRows(ctx, tx, query, args)
	}
	if s.dialect == sqldialect.SQLite {
		return s.group.exec(ctx, s.db, query, args)
	}
	return execRows(ctx, s.db, query, args)
}

// Get implements [saga.Store].
func (s *Store) Get(ctx context.Context, id string) (*saga.Record, error) {
	r, err := scan(s.querier(ctx).QueryRowContext(ctx, s.get, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: get %q: %w", id, saga.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get %q: %w", id, err)
	}
	return r, nil
}

// txKey is the context key of the transaction of InTx.
type txKey struct{}

// txValue is what InTx puts in the context: the transaction and the
// database it belongs to, so that a store over another database does not
// join it.
type txValue struct {
	db *sql.DB
	tx *sql.Tx
}

// InTx implements [saga.TxStore]: it begins a transaction on the store's
// database and runs fn with a ctx that carries it. Create, Update, Get and
// List with that ctx run in it, as do the writes a Local saga step makes
// through [TxFromContext]; it commits when fn returns nil and rolls back
// when fn returns an error or panics. A nested InTx with that ctx joins the
// transaction.
//
// The transaction holds a connection until it ends: any other use of the
// store's *sql.DB meanwhile needs another one, so with a pool of one
// connection (the usual SQLite setting) a query outside the transaction
// waits for it, and one made from fn deadlocks. On SQLite the transaction
// is also this process's only writer through the store: the store's other
// writes queue until it ends (then share a commit), so that they do not
// contend for SQLite's single write lock; a write of fn's through the
// store without fn's ctx deadlocks.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	if s.txFrom(ctx) != nil {
		return fn(ctx)
	}
	if s.dialect == sqldialect.SQLite {
		// This process's only writer meanwhile: see groupCommit.transaction.
		s.group.transaction(ctx, s.db, func() { err = s.inTx(ctx, fn) })
		return err
	}
	return s.inTx(ctx, fn)
}

func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(context.WithValue(ctx, txKey{}, &txValue{db: s.db, tx: tx})); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	return nil
}

// TxFromContext returns the transaction that [Store.InTx] put in ctx: a
// Local saga step makes its writes with it, so that they commit with the
// saga's record. ok is false outside InTx.
func TxFromContext(ctx context.Context) (tx *sql.Tx, ok bool) {
	v, ok := ctx.Value(txKey{}).(*txValue)
	if !ok {
		return nil, false
	}
	return v.tx, true
}

// txFrom returns the transaction of InTx in ctx if it is on s's database.
func (s *Store) txFrom(ctx context.Context) *sql.Tx {
	if v, ok := ctx.Value(txKey{}).(*txValue); ok && v.db == s.db {
		return v.tx
	}
	return nil
}

// querier is what Get and List read through: the transaction in ctx, or
// the database.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) querier(ctx context.Context) querier {
	if tx := s.txFrom(ctx); tx != nil {
		return tx
	}
	return s.db
}

type scanner interface{ Scan(dest ...any) error }

func scan(row scanner) (*saga.Record, error) { return scanWith(row) }

// scanWith reads a row of the record's columns after the leading ones,
// into lead.
func scanWith(row scanner, lead ...any) (*saga.Record, error) {
	var (
		r                                                saga.Record
		status, steps                                    string
		lease, deadline, created, updated, version, wake int64
	)
	dest := append(lead, &r.ID, &r.Name, &status, &version, &r.State, &steps, &r.Owner,
		&lease, &deadline, &r.Error, &r.Note, &created, &updated, &r.WaitKey, &wake)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	decoded, err := decodeSteps(steps)
	if err != nil {
		return nil, fmt.Errorf("record %q: %w", r.ID, err)
	}
	r.Status, r.Steps, r.Version = saga.Status(status), decoded, version
	r.LeaseUntil, r.Deadline, r.CreatedAt, r.UpdatedAt = fromUnixNano(lease), fromUnixNano(deadline), fromUnixNano(created), fromUnixNano(updated)
	r.WakeAt = fromUnixNano(wake)
	return &r, nil
}
