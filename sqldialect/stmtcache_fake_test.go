package sqldialect_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/go-microkit/microkit/sqldialect"
)

// fakeCounts counts what the fake driver was asked to do. Statements whose
// text contains "BAD" fail to prepare; those containing "FAIL" fail to run.
type fakeCounts struct {
	mu            sync.Mutex
	prepares      int
	stmtCloses    int
	connCloses    int
	directExecs   int
	directQueries int
	misuse        []string // statements used or closed after Close
}

func (n *fakeCounts) add(f *int) {
	n.mu.Lock()
	*f++
	n.mu.Unlock()
}

func (n *fakeCounts) snapshot() fakeCounts {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fakeCounts{prepares: n.prepares, stmtCloses: n.stmtCloses, connCloses: n.connCloses,
		directExecs: n.directExecs, directQueries: n.directQueries, misuse: append([]string(nil), n.misuse...)}
}

func (n *fakeCounts) misused(what string) error {
	n.mu.Lock()
	n.misuse = append(n.misuse, what)
	n.mu.Unlock()
	return errors.New(what)
}

var errFake = errors.New("fake failure")

type fakeConnector struct{ n *fakeCounts }

func (c fakeConnector) Connect(context.Context) (driver.Conn, error) { return &fakeConn{n: c.n}, nil }
func (c fakeConnector) Driver() driver.Driver                        { return fakeDriver(c) }

type fakeDriver struct{ n *fakeCounts }

func (d fakeDriver) Open(string) (driver.Conn, error) { return &fakeConn{n: d.n}, nil }

// fakeConn has only Prepare, Close, Begin and the ExecerContext and
// QueryerContext of the uncached path: the wrapper's fallbacks for the other
// optional interfaces run.
type fakeConn struct{ n *fakeCounts }

func (c *fakeConn) Prepare(q string) (driver.Stmt, error) {
	if strings.Contains(q, "BAD") {
		return nil, fmt.Errorf("prepare %q: %w", q, errFake)
	}
	c.n.add(&c.n.prepares)
	return &fakeStmt{n: c.n, q: q}, nil
}
func (c *fakeConn) Close() error              { c.n.add(&c.n.connCloses); return nil }
func (c *fakeConn) Begin() (driver.Tx, error) { return fakeTx{}, nil }

func (c *fakeConn) ExecContext(_ context.Context, q string, _ []driver.NamedValue) (driver.Result, error) {
	c.n.add(&c.n.directExecs)
	return driver.RowsAffected(1), nil
}

func (c *fakeConn) QueryContext(_ context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.n.add(&c.n.directQueries)
	return &fakeRows{args: args}, nil
}

type fakeTx struct{}

func (fakeTx) Commit() error   { return nil }
func (fakeTx) Rollback() error { return nil }

type fakeStmt struct {
	n      *fakeCounts
	q      string
	closed bool
}

func (s *fakeStmt) Close() error {
	if s.closed {
		return s.n.misused("closed twice: " + s.q)
	}
	s.closed = true
	s.n.add(&s.n.stmtCloses)
	return nil
}

func (s *fakeStmt) NumInput() int { return -1 }

func (s *fakeStmt) Exec([]driver.Value) (driver.Result, error) { return nil, errors.New("Exec") }

func (s *fakeStmt) Query([]driver.Value) (driver.Rows, error) { return nil, errors.New("Query") }

func (s *fakeStmt) ExecContext(_ context.Context, _ []driver.NamedValue) (driver.Result, error) {
	if s.closed {
		return nil, s.n.misused("exec after close: " + s.q)
	}
	if strings.Contains(s.q, "FAIL") {
		return nil, errFake
	}
	return driver.RowsAffected(1), nil
}

func (s *fakeStmt) QueryContext(_ context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if s.closed {
		return nil, s.n.misused("query after close: " + s.q)
	}
	if strings.Contains(s.q, "FAIL") {
		return nil, errFake
	}
	return &fakeRows{args: args}, nil
}

// fakeRows returns one row: the query's arguments.
type fakeRows struct {
	args []driver.NamedValue
	done bool
}

func (r *fakeRows) Columns() []string {
	cols := make([]string, len(r.args))
	for i := range cols {
		cols[i] = fmt.Sprint("c", i)
	}
	return cols
}

func (r *fakeRows) Close() error { return nil }

func (r *fakeRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	for i, a := range r.args {
		dest[i] = a.Value
	}
	return nil
}

// openFake opens a pool of one connection on the fake driver.
func openFake(t *testing.T) (*sql.DB, *fakeCounts) {
	t.Helper()
	n := &fakeCounts{}
	db := sql.OpenDB(sqldialect.CachingConnector(fakeConnector{n}))
	sqldialect.SetPoolSize(db, 1)
	t.Cleanup(func() {
		_ = db.Close()
		if got := n.snapshot(); len(got.misuse) > 0 {
			t.Errorf("statements misused: %q", got.misuse)
		}
	})
	return db, n
}

// closeDB closes db and checks that it closed every statement it prepared
// and its one connection.
func closeDB(t *testing.T, db *sql.DB, n *fakeCounts) {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := n.snapshot()
	if got.stmtCloses != got.prepares || got.connCloses != 1 {
		t.Errorf("after Close: %d statements closed of %d prepared, %d connections closed; want all, 1",
			got.stmtCloses, got.prepares, got.connCloses)
	}
}

func queryInt(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, query string, args ...any) int64 {
	t.Helper()
	var v int64
	if err := q.QueryRowContext(t.Context(), query, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

func TestCachingConnectorPreparesOncePerConnection(t *testing.T) {
	db, n := openFake(t)
	ctx := t.Context()
	for i := range 10 {
		if _, err := db.ExecContext(ctx, "INSERT ?", i); err != nil {
			t.Fatal(err)
		}
		if got := queryInt(t, db, "SELECT ?", i); got != int64(i) {
			t.Fatalf("SELECT %d = %d", i, got)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT ?", 1); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, tx, "SELECT ?", 5); got != 5 {
		t.Fatalf("SELECT 5 in tx = %d", got)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Without arguments: the driver's own path, never prepared.
	for range 3 {
		if _, err := db.ExecContext(ctx, "CREATE x; CREATE y"); err != nil {
			t.Fatal(err)
		}
	}
	got := n.snapshot()
	if got.prepares != 2 || got.directExecs != 3 || got.stmtCloses != 0 {
		t.Errorf("prepares %d, direct execs %d, closes %d; want 2, 3, 0", got.prepares, got.directExecs, got.stmtCloses)
	}
	closeDB(t, db, n)
}

func TestCachingConnectorEvictsLeastRecentlyUsed(t *testing.T) {
	db, n := openFake(t)
	ctx := t.Context()
	const extra = 5
	text := func(i int) string { return fmt.Sprintf("INSERT %d ?", i) }
	for i := range sqldialect.StmtCacheSize + extra {
		if _, err := db.ExecContext(ctx, text(i), i); err != nil {
			t.Fatal(err)
		}
	}
	got := n.snapshot()
	if got.prepares != sqldialect.StmtCacheSize+extra || got.stmtCloses != extra {
		t.Fatalf("prepares %d, closes %d; want %d, %d", got.prepares, got.stmtCloses, sqldialect.StmtCacheSize+extra, extra)
	}
	// The most recent StmtCacheSize are cached; the first was evicted.
	for i := extra; i < sqldialect.StmtCacheSize+extra; i++ {
		if _, err := db.ExecContext(ctx, text(i), i); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.snapshot(); got.prepares != sqldialect.StmtCacheSize+extra {
		t.Fatalf("cached statements prepared again: %d prepares", got.prepares)
	}
	if _, err := db.ExecContext(ctx, text(0), 0); err != nil {
		t.Fatal(err)
	}
	if got := n.snapshot(); got.prepares != sqldialect.StmtCacheSize+extra+1 || got.stmtCloses != extra+1 {
		t.Fatalf("evicted statement: prepares %d, closes %d; want %d, %d",
			got.prepares, got.stmtCloses, sqldialect.StmtCacheSize+extra+1, extra+1)
	}
	closeDB(t, db, n)
}

func TestCachingConnectorErrors(t *testing.T) {
	db, n := openFake(t)
	ctx := t.Context()
	for range 2 {
		if _, err := db.ExecContext(ctx, "BAD ?", 1); !errors.Is(err, errFake) {
			t.Fatalf("Exec BAD: %v, want %v", err, errFake)
		}
		if _, err := db.QueryContext(ctx, "BAD ?", 1); !errors.Is(err, errFake) {
			t.Fatalf("Query BAD: %v, want %v", err, errFake)
		}
	}
	// A statement whose run fails is closed and prepared again.
	for i := range 2 {
		if _, err := db.ExecContext(ctx, "FAIL ?", 1); !errors.Is(err, errFake) {
			t.Fatalf("Exec FAIL: %v, want %v", err, errFake)
		}
		if got := n.snapshot(); got.prepares != i+1 || got.stmtCloses != i+1 {
			t.Fatalf("after failure %d: prepares %d, closes %d", i+1, got.prepares, got.stmtCloses)
		}
	}
	if _, err := db.QueryContext(ctx, "FAIL ?", 1); !errors.Is(err, errFake) {
		t.Fatalf("Query FAIL: %v, want %v", err, errFake)
	}
	if got := n.snapshot(); got.prepares != 3 || got.stmtCloses != 3 {
		t.Fatalf("after failed query: prepares %d, closes %d; want 3, 3", got.prepares, got.stmtCloses)
	}
	closeDB(t, db, n)
}

// TestCachingConnectorOpenRows runs a query whose cached statement still has
// open rows, and evicts a statement whose rows are open: neither may touch
// the statement under the rows.
func TestCachingConnectorOpenRows(t *testing.T) {
	db, n := openFake(t)
	ctx := t.Context()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows1, err := tx.QueryContext(ctx, "SELECT ?", 1)
	if err != nil {
		t.Fatal(err)
	}
	// Same text while rows1 is open: uncached.
	if got := queryInt(t, tx, "SELECT ?", 2); got != 2 {
		t.Fatalf("second query = %d", got)
	}
	if _, err := tx.ExecContext(ctx, "SELECT ?", 3); err != nil {
		t.Fatal(err)
	}
	if got := n.snapshot(); got.prepares != 1 || got.directQueries != 1 || got.directExecs != 1 {
		t.Fatalf("prepares %d, direct queries %d, direct execs %d; want 1, 1, 1", got.prepares, got.directQueries, got.directExecs)
	}
	// Fill the cache so that "SELECT ?" is evicted while rows1 is open.
	for i := range sqldialect.StmtCacheSize {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("INSERT %d ?", i), i); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.snapshot(); got.stmtCloses != 0 {
		t.Fatalf("statement closed under open rows: %d closes", got.stmtCloses)
	}
	var v int64
	if !rows1.Next() {
		t.Fatalf("rows1: no row: %v", rows1.Err())
	}
	if err := rows1.Scan(&v); err != nil || v != 1 {
		t.Fatalf("rows1: %d, %v; want 1", v, err)
	}
	if err := rows1.Close(); err != nil {
		t.Fatal(err)
	}
	if got := n.snapshot(); got.stmtCloses != 1 {
		t.Fatalf("evicted statement not closed with its rows: %d closes", got.stmtCloses)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	closeDB(t, db, n)
}

func TestCachingConnectorFallbacks(t *testing.T) {
	db, n := openFake(t)
	ctx := t.Context()
	if err := db.PingContext(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if _, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}); err == nil {
		t.Error("read-only BeginTx on a driver without BeginTx: no error")
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	st, err := db.PrepareContext(ctx, "INSERT ?")
	if err != nil {
		t.Fatal(err)
	}
	// A statement the caller prepares is its own: not cached, closed by it.
	if _, err := st.ExecContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var raw driver.Conn
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Raw(func(dc any) error {
		raw = dc.(interface{ Unwrap() driver.Conn }).Unwrap()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw.(*fakeConn); !ok {
		t.Errorf("Unwrap() = %T, want *fakeConn", raw)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := db.Driver().(fakeDriver); !ok {
		t.Errorf("Driver() = %T, want the wrapped connector's", db.Driver())
	}
	closeDB(t, db, n)
}
