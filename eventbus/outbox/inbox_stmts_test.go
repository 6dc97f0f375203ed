package outbox_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
)

// calls counts what a database/sql pool asked of its driver connections.
type calls struct {
	stmts, begins, commits, rollbacks atomic.Int64
}

// countingDB opens a second pool on d's database whose connections count
// their statements (ExecContext and QueryContext), transactions, commits
// and rollbacks in n: what an Inbox given that pool sends to the server.
func countingDB(t *testing.T, d *database, n *calls) *sql.DB {
	t.Helper()
	db := sql.OpenDB(countingConnector{drv: d.db.Driver(), dsn: d.dsn, n: n})
	t.Cleanup(func() { _ = db.Close() })
	return db
}

type countingConnector struct {
	drv driver.Driver
	dsn string
	n   *calls
}

func (c countingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, n: c.n}, nil
}

func (c countingConnector) Driver() driver.Driver { return c.drv }

// countingConn needs its driver's connection to implement ExecerContext,
// QueryerContext and ConnBeginTx, as pgx's and modernc.org/sqlite's do.
type countingConn struct {
	driver.Conn
	n *calls
}

func (c *countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.n.stmts.Add(1)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.n.stmts.Add(1)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.n.begins.Add(1)
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
	n *calls
}

func (t countingTx) Commit() error   { t.n.commits.Add(1); return t.Tx.Commit() }
func (t countingTx) Rollback() error { t.n.rollbacks.Add(1); return t.Tx.Rollback() }

// TestInboxGroupCommitStatements: a batch without failures sends BEGIN,
// one statement that marks every delivery, one statement per handler
// (each handler here runs one) and COMMIT, whatever its duplicates: a
// message processed before, and one delivered twice within the batch.
// One failure costs a rollback and a transaction per other delivery.
func TestInboxGroupCommitStatements(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			createLedger(t, d)
			var n calls
			in, recorded, queued := groupInbox(t, countingDB(t, d, &n), d.dialect, 10)
			l := ledgerHandler{started: make(chan string, 1), release: make(chan struct{})}

			old, a, b, c := message(t, "old"), message(t, "a"), message(t, "b"), message(t, "c")
			if ran, err := in.Process(ctx, "billing", old, l.handle); !ran || err != nil {
				t.Fatalf("Process = %v, %v; want processed", ran, err)
			}
			firstDone := holdBatch(t, in, l)
			queue := []*eventbus.Message{a, b, a, old, c}
			results := queueBehind(in, queued, l.handle, queue)
			close(l.release)
			if r := <-firstDone; !r.ran || r.err != nil {
				t.Fatalf("first delivery: Process = %v, %v; want processed", r.ran, r.err)
			}
			want := []bool{true, true, false, false, true}
			for i, ch := range results {
				if r := <-ch; r.ran != want[i] || r.err != nil || r.panic != nil {
					t.Errorf("delivery %d (%s): Process = %v, %v, panic %v; want %v, nil", i, queue[i].Subject, r.ran, r.err, r.panic, want[i])
				}
			}
			// Three batches: [old], [block] and [a b a old c], three of
			// whose handlers run.
			if sizes, _ := recorded.get(); !slices.Equal(sizes, []int{1, 1, 5}) {
				t.Fatalf("batches = %v, want [1 1 5]", sizes)
			}
			got := [4]int64{n.begins.Load(), n.stmts.Load(), n.commits.Load(), n.rollbacks.Load()}
			if wantCalls := [4]int64{3, 2 + 2 + 1 + 3, 3, 0}; got != wantCalls {
				t.Fatalf("begins, statements, commits, rollbacks = %v, want %v: BEGIN, one mark statement, one per handler, COMMIT per batch", got, wantCalls)
			}

			// A batch of three whose second fails: BEGIN, the marks, two
			// handlers, ROLLBACK; then the first and third alone, with
			// their mark and handler each.
			n.begins.Store(0)
			n.stmts.Store(0)
			n.commits.Store(0)
			x, fail, y := message(t, "x"), message(t, "fail"), message(t, "y")
			l = ledgerHandler{started: make(chan string, 1), release: make(chan struct{})}
			firstDone = holdBatch(t, in, l)
			results = queueBehind(in, queued, l.handle, []*eventbus.Message{x, fail, y})
			close(l.release)
			<-firstDone
			for i, wantRan := range []bool{true, false, true} {
				if r := <-results[i]; r.ran != wantRan || (r.err == nil) != wantRan {
					t.Errorf("delivery %d of the failed batch: Process = %v, %v; want processed %v", i, r.ran, r.err, wantRan)
				}
			}
			got = [4]int64{n.begins.Load(), n.stmts.Load(), n.commits.Load(), n.rollbacks.Load()}
			if wantCalls := [4]int64{1 + 1 + 2, 2 + 1 + 2 + 2*2, 1 + 2, 1}; got != wantCalls {
				t.Fatalf("begins, statements, commits, rollbacks = %v, want %v", got, wantCalls)
			}
			if fb := recorded.fallbacks(); !slices.Equal(fb, []bool{false, false, false, false, true}) {
				t.Fatalf("batches fell back %v, want only the last", fb)
			}
		})
	}
}
