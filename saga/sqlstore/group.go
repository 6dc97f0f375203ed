package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// groupCommit runs concurrent writes in shared transactions: SQLite has a
// single writer and syncs the disk at each commit, so N sagas' transitions
// committed together cost one sync instead of N. The first writer to find
// no batch in progress leads: it commits everything queued so far, then
// hands the lead to the oldest writer that queued meanwhile, so that no
// caller serves others for ever. There is no goroutine to own.
type groupCommit struct {
	mu      sync.Mutex
	queue   []*writeOp
	leading bool
}

// writeOp is one statement waiting for its commit, or a transaction of
// InTx waiting for its turn.
type writeOp struct {
	query string
	args  []any
	// statements, if not nil, runs in place of query: several statements
	// in the batch's transaction, returning the rows affected.
	statements func(ctx context.Context, tx *sql.Tx) (int64, error)
	rows       int64
	err        error
	tx         func()        // InTx's transaction: run alone, while leading
	lead       bool          // woken to lead the next batch, not with a result
	wake       chan struct{} // buffered: a result or the lead
}

// exec runs query in the next group commit and returns its rows affected.
// The batch runs without the callers' cancellation (one saga's cancelled
// context must not fail the others' writes); SQLite's busy timeout bounds
// it.
func (g *groupCommit) exec(ctx context.Context, db *sql.DB, query string, args []any) (int64, error) {
	op := &writeOp{query: query, args: args, wake: make(chan struct{}, 1)}
	if g.wait(op) {
		return op.rows, op.err
	}
	g.lead(ctx, db, op)
	return op.rows, op.err
}

// execTx runs statements in the next group commit, in its transaction,
// and returns what it returns (see exec).
func (g *groupCommit) execTx(ctx context.Context, db *sql.DB, statements func(ctx context.Context, tx *sql.Tx) (int64, error)) (int64, error) {
	op := &writeOp{statements: statements, wake: make(chan struct{}, 1)}
	if g.wait(op) {
		return op.rows, op.err
	}
	g.lead(ctx, db, op)
	return op.rows, op.err
}

// transaction runs tx (which begins, runs and ends a transaction) as this
// process's only writer: after the writes queued before it are committed,
// and before any queued meanwhile. Without that, concurrent transactions
// and batches would wait for each other in SQLite's busy handler, which
// polls with sleeps.
func (g *groupCommit) transaction(ctx context.Context, db *sql.DB, tx func()) {
	op := &writeOp{tx: tx, wake: make(chan struct{}, 1)}
	g.wait(op)
	g.lead(ctx, db, op)
}

// wait queues op, then waits for its result (true) or for the lead.
func (g *groupCommit) wait(op *writeOp) (done bool) {
	g.mu.Lock()
	g.queue = append(g.queue, op)
	if !g.leading {
		g.leading = true
		g.mu.Unlock()
		return false
	}
	g.mu.Unlock()
	<-op.wake
	return !op.lead
}

// lead commits the queued statements in one batch, runs self's
// transaction if it is one, then hands the lead to the oldest op queued
// (a transaction queued before self keeps its place).
func (g *groupCommit) lead(ctx context.Context, db *sql.DB, self *writeOp) {
	g.mu.Lock()
	var batch, rest []*writeOp
	for _, o := range g.queue {
		switch {
		case o == self && o.tx != nil:
		case o.tx != nil:
			rest = append(rest, o)
		default:
			batch = append(batch, o)
		}
	}
	g.queue = rest
	g.mu.Unlock()
	defer func() { // a panicking transaction must not keep the lead
		g.mu.Lock()
		if len(g.queue) > 0 {
			next := g.queue[0]
			next.lead = true
			next.wake <- struct{}{}
		} else {
			g.leading = false
		}
		g.mu.Unlock()
	}()
	if len(batch) > 0 {
		commitBatch(context.WithoutCancel(ctx), db, batch)
		for _, o := range batch {
			if o != self {
				o.wake <- struct{}{}
			}
		}
	}
	if self.tx != nil {
		self.tx()
	}
}

// commitBatch runs the statements of batch, in one transaction when there
// are several (or an op of several), and records each one's result.
func commitBatch(ctx context.Context, db *sql.DB, batch []*writeOp) {
	if len(batch) == 1 && batch[0].statements == nil {
		batch[0].rows, batch[0].err = execRows(ctx, db, batch[0].query, batch[0].args)
		return
	}
	fail := func(err error) {
		for _, o := range batch {
			o.rows, o.err = 0, err
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("group commit: %w", err))
		return
	}
	for _, o := range batch {
		if o.statements != nil {
			o.rows, o.err = o.statements(ctx, tx)
		} else {
			o.rows, o.err = execRows(ctx, tx, o.query, o.args)
		}
		if o.err != nil {
			_ = tx.Rollback()
			fail(fmt.Errorf("group commit: %w", o.err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("group commit: %w", err))
	}
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func execRows(ctx context.Context, db execer, query string, args []any) (int64, error) {
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
