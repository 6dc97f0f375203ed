package sqldialect

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
)

// StmtCacheSize is how many prepared statements each connection of a
// [CachingConnector] keeps; the least recently used one is closed to make
// room for a new one.
const StmtCacheSize = 128

// CachingConnector returns a connector whose connections keep the
// statements they run prepared, for drivers that prepare every statement
// again on each ExecContext and QueryContext, as modernc.org/sqlite does:
// there parsing and planning SQL costs more than running a small INSERT.
// Pass it to sql.OpenDB:
//
//	c, err := sqlite.NewConnector(dsn)
//	...
//	db := sql.OpenDB(sqldialect.CachingConnector(c))
//
// The cache is per connection, inside the driver, because that is where a
// statement lives: a cache of *sql.Stmt above database/sql would have to
// prepare on the pool, which with a pool of one connection (the usual
// SQLite setting) waits forever for the connection a transaction holds.
// Statements run inside a transaction use the cache too: database/sql runs
// them through the connection's ExecerContext and QueryerContext.
//
// Which statements are cached: only those run with arguments. A query text
// without arguments may hold several statements ("CREATE ...; CREATE ...",
// a migration), and a prepared statement would run only the first of them
// on most drivers; such texts go to the driver's own ExecContext and
// QueryContext, which run them all. A statement whose run fails is closed
// and prepared again next time, so that a statement left in a state the
// driver does not recover from is never reused (SQLite itself prepares a
// statement again after a schema change: sqlite3_prepare_v2 statements
// recover from SQLITE_SCHEMA). A query whose text is cached but whose rows
// are still open (a second query of the same text inside a transaction)
// runs uncached.
//
// The connections keep every optional interface of the driver's
// connections working (BeginTx, PrepareContext, Ping, ResetSession,
// IsValid, CheckNamedValue) and have an Unwrap method returning the
// driver's connection, as modernc.org/sqlite's Limit expects. The driver's
// prepared statements must implement driver.StmtExecContext and
// driver.StmtQueryContext to be cached; a connection whose statements do
// not caches nothing.
func CachingConnector(c driver.Connector) driver.Connector {
	return &cachingConnector{base: c}
}

type cachingConnector struct{ base driver.Connector }

func (c *cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	ci, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &cachingConn{Conn: ci, stmts: make(map[string]*list.Element)}, nil
}

func (c *cachingConnector) Driver() driver.Driver { return c.base.Driver() }

// Close closes the wrapped connector if it has a Close method: sql.DB.Close
// calls it on the connector it was opened with.
func (c *cachingConnector) Close() error {
	if cl, ok := c.base.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// cachingConn is a driver connection with its cache of prepared statements.
//
// Its fields have no lock: database/sql uses a driver.Conn from one
// goroutine at a time (the driver.Conn contract: "It is not used
// concurrently by multiple goroutines"), and it makes every call on the
// connection and on the Rows it returns (Next, Close, including the Close
// that ends a query whose context is done) under the lock of its
// driverConn, see withLock in database/sql/sql.go.
type cachingConn struct {
	driver.Conn
	// stmts maps query text to its element of lru.
	stmts map[string]*list.Element
	// lru holds the *cachedStmt values, most recently used first.
	lru list.List
	// nocache is set once the driver returned a statement that cannot run
	// with a context: there is nothing to cache then.
	nocache bool
}

type cachedStmt struct {
	text  string
	stmt  driver.Stmt
	exec  driver.StmtExecContext
	query driver.StmtQueryContext
	elem  *list.Element
	// busy is set while the Rows of a query run on stmt are open: the
	// statement cannot run again until they are closed.
	busy bool
	// gone is set once the statement left the cache (evicted, or the
	// connection closed) while busy: closing its Rows closes it.
	gone bool
}

// Unwrap returns the driver's connection.
func (c *cachingConn) Unwrap() driver.Conn { return c.Conn }

// Close closes every cached statement, then the connection.
func (c *cachingConn) Close() error {
	var errs []error
	for e := c.lru.Front(); e != nil; e = e.Next() {
		s := e.Value.(*cachedStmt)
		if s.busy {
			s.gone = true
			continue
		}
		errs = append(errs, s.stmt.Close())
	}
	c.lru.Init()
	clear(c.stmts)
	errs = append(errs, c.Conn.Close())
	return errors.Join(errs...)
}

// get returns the cached statement of query, preparing it on a miss, or
// nil when the query must run uncached.
func (c *cachingConn) get(ctx context.Context, query string) (*cachedStmt, error) {
	if e, ok := c.stmts[query]; ok {
		s := e.Value.(*cachedStmt)
		if s.busy {
			return nil, nil
		}
		c.lru.MoveToFront(e)
		return s, nil
	}
	si, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	ex, okE := si.(driver.StmtExecContext)
	qu, okQ := si.(driver.StmtQueryContext)
	if !okE || !okQ {
		c.nocache = true
		_ = si.Close()
		return nil, nil
	}
	s := &cachedStmt{text: query, stmt: si, exec: ex, query: qu}
	s.elem = c.lru.PushFront(s)
	c.stmts[query] = s.elem
	if c.lru.Len() > StmtCacheSize {
		c.evict(c.lru.Back().Value.(*cachedStmt))
	}
	return s, nil
}

// evict removes s from the cache and closes it, or leaves the closing to
// its open Rows. The error of Close is dropped: the statement is not used
// again, and the call that evicts it is not the one that failed.
func (c *cachingConn) evict(s *cachedStmt) {
	if !s.gone {
		c.lru.Remove(s.elem)
		delete(c.stmts, s.text)
		s.gone = true
	}
	if !s.busy {
		_ = s.stmt.Close()
	}
}

// ExecContext runs query on its cached statement when it has arguments,
// else on the driver's connection (see [CachingConnector]).
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) > 0 && !c.nocache {
		s, err := c.get(ctx, query)
		if err != nil {
			return nil, err
		}
		if s != nil {
			r, err := s.exec.ExecContext(ctx, args)
			if err != nil {
				c.evict(s)
			}
			return r, err
		}
	}
	if ex, ok := c.Conn.(driver.ExecerContext); ok {
		return ex.ExecContext(ctx, query, args)
	}
	// database/sql prepares the statement through PrepareContext then.
	return nil, driver.ErrSkip
}

// QueryContext runs query on its cached statement when it has arguments,
// else on the driver's connection (see [CachingConnector]).
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) > 0 && !c.nocache {
		s, err := c.get(ctx, query)
		if err != nil {
			return nil, err
		}
		if s != nil {
			r, err := s.query.QueryContext(ctx, args)
			if err != nil {
				c.evict(s)
				return nil, err
			}
			s.busy = true
			return &cachedRows{Rows: r, c: c, s: s}, nil
		}
	}
	if qu, ok := c.Conn.(driver.QueryerContext); ok {
		return qu.QueryContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

// PrepareContext prepares query on the driver's connection, uncached: the
// statement belongs to the caller, who closes it.
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	// As database/sql does for a connection without PrepareContext.
	si, err := c.Prepare(query)
	if err == nil && ctx.Err() != nil {
		_ = si.Close()
		return nil, ctx.Err()
	}
	return si, err
}

// BeginTx begins a transaction on the driver's connection.
func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	// As database/sql does for a connection without BeginTx.
	if opts.Isolation != driver.IsolationLevel(0) {
		return nil, errors.New("sqldb: driver does not support non-default isolation level")
	}
	if opts.ReadOnly {
		return nil, errors.New("sqldb: driver does not support read-only transactions")
	}
	tx, err := c.Begin()
	if err == nil && ctx.Err() != nil {
		_ = tx.Rollback()
		return nil, ctx.Err()
	}
	return tx, err
}

// Ping pings the driver's connection, if it can be.
func (c *cachingConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// ResetSession resets the driver's connection, if it can be.
func (c *cachingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

// IsValid reports whether the driver's connection is valid, true if it
// cannot tell.
func (c *cachingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// CheckNamedValue checks an argument with the driver's connection, or
// returns driver.ErrSkip so that database/sql converts it by default.
func (c *cachingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if v, ok := c.Conn.(driver.NamedValueChecker); ok {
		return v.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// cachedRows are the rows of a cached statement: closing them frees the
// statement for its next run, or closes it when it failed or left the
// cache.
type cachedRows struct {
	driver.Rows
	c      *cachingConn
	s      *cachedStmt
	failed bool
}

func (r *cachedRows) Next(dest []driver.Value) error {
	err := r.Rows.Next(dest)
	if err != nil && err != io.EOF {
		r.failed = true
	}
	return err
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if r.s == nil {
		return err
	}
	s := r.s
	r.s = nil
	s.busy = false
	if err != nil || r.failed || s.gone {
		r.c.evict(s)
	}
	return err
}

// The optional interfaces of driver.Rows: each answers as database/sql
// does for rows without it when the driver's rows lack it.

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *cachedRows) HasNextResultSet() bool {
	if t, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return t.HasNextResultSet()
	}
	return false
}

func (r *cachedRows) NextResultSet() error {
	if t, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return t.NextResultSet()
	}
	return io.EOF
}
