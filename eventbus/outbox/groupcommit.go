package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// inboxOp is one delivery waiting for a group commit, and its result.
type inboxOp struct {
	ctx      context.Context
	consumer string
	msg      *eventbus.Message
	h        TxHandler

	ran      bool  // the mark is in the batch and h succeeded
	err      error // the delivery's error: its own, or the batch's
	panicked bool  // h panicked with panicVal: raised again in the caller
	panicVal any
}

// processGrouped is Process with WithGroupCommit.
func (in *Inbox) processGrouped(ctx context.Context, consumer string, msg *eventbus.Message, h TxHandler) (bool, error) {
	op := &inboxOp{ctx: ctx, consumer: consumer, msg: msg, h: h}
	if err := in.group.Do(ctx, op); err != nil {
		return false, fmt.Errorf("outbox: inbox: %s: waiting for group commit: %w", msg.ID, err)
	}
	if op.panicked {
		panic(op.panicVal)
	}
	return op.ran, op.err
}

// runBatch handles ops in one transaction and tells the listeners. ctx
// has no caller's cancellation (see groupcommit.New).
func (in *Inbox) runBatch(ctx context.Context, ops []*inboxOp) {
	start := time.Now()
	err := in.commitBatch(ctx, ops)
	emit(ctx, in.listeners, Event{Kind: EventInboxBatch, Table: in.table, Events: len(ops), Duration: time.Since(start), Err: err})
}

// savepoint isolates one delivery of a batch: a failed handler rolls back
// to it, taking its own mark and writes along and leaving the others'.
const savepoint = "microkit_inbox"

// commitBatch runs each op between a savepoint and its release, then
// commits. An error that leaves the transaction unusable, or a failed
// commit, fails every op: nothing of the batch was processed, and the
// redeliveries process it.
func (in *Inbox) commitBatch(ctx context.Context, ops []*inboxOp) error {
	fail := func(err error) error {
		for _, op := range ops {
			op.ran, op.err = false, err
		}
		return err
	}
	tx, err := in.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(fmt.Errorf("outbox: inbox: group commit: begin: %w", err))
	}
	defer func() { _ = tx.Rollback() }()
	for _, op := range ops {
		if err := in.runOp(ctx, tx, op); err != nil {
			return fail(fmt.Errorf("outbox: inbox: group commit: %w", err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("outbox: inbox: group commit of %d deliveries: %w", len(ops), err))
	}
	return nil
}

// runOp marks op's message and runs its handler inside a savepoint of tx,
// recording op's outcome in op. It returns an error only when tx is no
// longer usable.
//
// The mark and h run with op's context without its cancellation: the
// drivers end a statement interrupted by its context by closing the
// PostgreSQL connection (pgx) or rolling the whole transaction back
// (SQLite), which would fail the other deliveries of the batch. A caller
// whose context ended before its turn is skipped with that error instead.
func (in *Inbox) runOp(ctx context.Context, tx *sql.Tx, op *inboxOp) error {
	if err := op.ctx.Err(); err != nil {
		op.err = fmt.Errorf("outbox: inbox: %s: %w", op.msg.ID, err)
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SAVEPOINT "+savepoint); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	hctx := context.WithoutCancel(op.ctx)
	res, err := tx.ExecContext(hctx, "INSERT INTO "+in.table+" (consumer, id, processed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
		op.consumer, op.msg.ID, time.Now().UnixNano())
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	switch {
	case err != nil:
		op.err = fmt.Errorf("outbox: inbox: mark %s: %w", op.msg.ID, err)
	case n == 0: // processed before, maybe earlier in this batch: a duplicate
		return release(ctx, tx, op)
	default:
		op.panicked, op.panicVal, op.err = callHandler(hctx, tx, op)
		if op.err == nil && !op.panicked {
			op.ran = true
			return release(ctx, tx, op)
		}
	}
	return rollbackTo(ctx, tx)
}

// release ends op's savepoint, keeping its work. On PostgreSQL it fails if
// a statement of the handler failed and the handler returned nil anyway
// (the transaction is aborted): op then fails as it would at the commit of
// a transaction of its own, and its savepoint is rolled back.
func release(ctx context.Context, tx *sql.Tx, op *inboxOp) error {
	if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+savepoint); err != nil {
		op.ran, op.err = false, fmt.Errorf("outbox: inbox: %s: %w", op.msg.ID, err)
		return rollbackTo(ctx, tx)
	}
	return nil
}

// rollbackTo undoes the current op's work, mark included, and ends its
// savepoint.
func rollbackTo(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+savepoint); err != nil {
		return fmt.Errorf("rollback to savepoint: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+savepoint); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// callHandler runs op's handler, turning a panic into a value to raise
// again in op's caller: the leader runs the handlers of others, and a
// panic must neither kill it nor lose the batch.
func callHandler(ctx context.Context, tx *sql.Tx, op *inboxOp) (panicked bool, v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			panicked, v = true, r
		}
	}()
	return false, nil, op.h(ctx, tx, op.msg)
}
