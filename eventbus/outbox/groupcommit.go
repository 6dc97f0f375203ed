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

// batchTx is a batch's transaction. A delivery's savepoint is released
// in the same round trip as the next one is taken ("RELEASE SAVEPOINT …;
// SAVEPOINT …", statements without parameters, which pgx sends in one
// simple-protocol query): the handlers run one after another, so round
// trips, not the commit, are most of a batch's time.
type batchTx struct {
	tx   *sql.Tx
	open *inboxOp // the delivery whose savepoint awaits its release, or nil
	held bool     // a savepoint awaits its release
}

// commitBatch runs each op inside a savepoint, then commits. An error that
// leaves the transaction unusable, or a failed commit, fails every op:
// nothing of the batch was processed, and the redeliveries process it.
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
	b := &batchTx{tx: tx}
	for _, op := range ops {
		if err := in.runOp(ctx, b, op); err != nil {
			return fail(fmt.Errorf("outbox: inbox: group commit: %w", err))
		}
	}
	if b.held {
		if err := b.savepoint(ctx, false); err != nil {
			return fail(fmt.Errorf("outbox: inbox: group commit: %w", err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("outbox: inbox: group commit of %d deliveries: %w", len(ops), err))
	}
	return nil
}

// savepoint releases the held savepoint, if any, and takes a new one if
// next. A release fails on PostgreSQL when a statement of the previous
// handler failed and the handler returned nil anyway (the transaction is
// aborted): that delivery then fails, as it would at the commit of a
// transaction of its own, and is rolled back to its savepoint. It returns
// an error only when the transaction is no longer usable.
func (b *batchTx) savepoint(ctx context.Context, next bool) error {
	stmt := "SAVEPOINT " + savepoint
	switch {
	case b.held && next:
		stmt = "RELEASE SAVEPOINT " + savepoint + "; " + stmt
	case b.held:
		stmt = "RELEASE SAVEPOINT " + savepoint
	}
	_, err := b.tx.ExecContext(ctx, stmt)
	if err != nil && b.open != nil {
		op := b.open
		op.ran, op.err = false, fmt.Errorf("outbox: inbox: %s: %w", op.msg.ID, err)
		if _, rerr := b.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+savepoint); rerr != nil {
			return fmt.Errorf("rollback to savepoint: %w", rerr)
		}
		// The savepoint stays, empty: the next delivery's, or the commit's
		// to release.
		b.open = nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	b.held, b.open = next, nil
	return nil
}

// runOp marks op's message and runs its handler inside a savepoint of the
// batch, recording op's outcome in op. It returns an error only when the
// transaction is no longer usable.
//
// The mark and h run with op's context without its cancellation: the
// drivers end a statement interrupted by its context by closing the
// PostgreSQL connection (pgx) or rolling the whole transaction back
// (SQLite), which would fail the other deliveries of the batch. A caller
// whose context ended before its turn is skipped with that error instead.
func (in *Inbox) runOp(ctx context.Context, b *batchTx, op *inboxOp) error {
	if err := op.ctx.Err(); err != nil {
		op.err = fmt.Errorf("outbox: inbox: %s: %w", op.msg.ID, err)
		return nil
	}
	if err := b.savepoint(ctx, true); err != nil {
		return err
	}
	hctx := context.WithoutCancel(op.ctx)
	res, err := b.tx.ExecContext(hctx, "INSERT INTO "+in.table+" (consumer, id, processed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
		op.consumer, op.msg.ID, time.Now().UnixNano())
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	switch {
	case err != nil:
		op.err = fmt.Errorf("outbox: inbox: mark %s: %w", op.msg.ID, err)
	case n == 0: // processed before, maybe earlier in this batch: a duplicate
		return nil
	default:
		op.panicked, op.panicVal, op.err = callHandler(hctx, b.tx, op)
		if op.err == nil && !op.panicked {
			op.ran, b.open = true, op // confirmed by the release
			return nil
		}
	}
	// Undo op's work, mark included; the savepoint stays, empty, and is
	// released with the next one (b.open is nil: nothing to confirm).
	if _, err := b.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+savepoint); err != nil {
		return fmt.Errorf("rollback to savepoint: %w", err)
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
