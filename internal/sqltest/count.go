package sqltest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync/atomic"
	"testing"
)

// Calls counts what a database/sql pool asked of its driver connections:
// what a component given that pool sends to the server.
type Calls struct {
	// Stmts counts statements (ExecContext and QueryContext, in a
	// transaction or not); Begins, Commits and Rollbacks transactions.
	Stmts, Begins, Commits, Rollbacks atomic.Int64
}

// Reset sets every count back to zero.
func (c *Calls) Reset() {
	c.Stmts.Store(0)
	c.Begins.Store(0)
	c.Commits.Store(0)
	c.Rollbacks.Store(0)
}

// CountingDB opens a second pool on the database of db (opened with
// dsn), whose connections count their statements and transactions in
// n. The driver's connections must implement ExecerContext,
// QueryerContext and ConnBeginTx, as pgx's and modernc.org/sqlite's do.
// The pool is closed when the test ends.
func CountingDB(t testing.TB, db *sql.DB, dsn string, n *Calls) *sql.DB {
	t.Helper()
	counted := sql.OpenDB(countingConnector{drv: db.Driver(), dsn: dsn, n: n})
	t.Cleanup(func() { _ = counted.Close() })
	return counted
}

type countingConnector struct {
	drv driver.Driver
	dsn string
	n   *Calls
}

func (c countingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, n: c.n}, nil
}

func (c countingConnector) Driver() driver.Driver { return c.drv }

type countingConn struct {
	driver.Conn
	n *Calls
}

func (c *countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.n.Stmts.Add(1)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.n.Stmts.Add(1)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.n.Begins.Add(1)
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return countingTx{Tx: tx, n: c.n}, nil
}

func (c *countingConn) CheckNamedValue(v *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(v)
	}
	return driver.ErrSkip
}

type countingTx struct {
	driver.Tx
	n *Calls
}

func (t countingTx) Commit() error   { t.n.Commits.Add(1); return t.Tx.Commit() }
func (t countingTx) Rollback() error { t.n.Rollbacks.Add(1); return t.Tx.Rollback() }
