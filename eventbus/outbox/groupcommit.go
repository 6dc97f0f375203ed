package outbox

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// inboxOp is one delivery waiting for a group commit, and its result.
type inboxOp struct {
	ctx      context.Context
	consumer string
	msg      *eventbus.Message
	h        TxHandler

	ran      bool  // h's writes and the mark committed
	err      error // the delivery's error: its own, or the batch's
	panicked bool  // h panicked with panicVal: raised again in the caller
	panicVal any
	// seen: the mark was committed before the batch, so the delivery is a
	// duplicate whatever becomes of the batch.
	seen bool
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
	fellBack, err := in.commitBatch(ctx, ops)
	emit(ctx, in.listeners, Event{Kind: EventInboxBatch, Table: in.table, Events: len(ops), Duration: time.Since(start), Err: err, FellBack: fellBack})
}

// commitBatch handles ops optimistically: one statement marks them all,
// the handlers of the new ones run one after another on the shared
// transaction, and one commit makes them durable. Round trips, not the
// commit, are most of a batch's time on PostgreSQL, so there is no
// savepoint per delivery: a handler that fails (or panics) rolls the whole
// batch back, keeps its own error, and every other delivery is processed
// again on its own, with a transaction of its own (see fallBack). A batch
// whose mark statement or commit fails falls back whole: no delivery is
// known to have failed by itself.
//
// It reports whether the batch fell back, and the error of its begin
// (which fails every delivery), mark statement or commit.
func (in *Inbox) commitBatch(ctx context.Context, ops []*inboxOp) (fellBack bool, err error) {
	tx, err := in.db.BeginTx(ctx, nil)
	if err != nil {
		err = fmt.Errorf("outbox: inbox: group commit: begin: %w", err)
		for _, op := range ops {
			op.ran, op.err = false, err
		}
		return false, err
	}
	defer func() { _ = tx.Rollback() }()
	fresh, err := in.markBatch(ctx, tx, ops)
	if err != nil {
		_ = tx.Rollback()
		in.fallBack(ops, nil)
		return true, fmt.Errorf("outbox: inbox: group commit: mark %d deliveries: %w", len(ops), err)
	}
	for _, op := range fresh {
		// The handler runs with op's context without its cancellation: the
		// drivers end a statement interrupted by its context by closing
		// the PostgreSQL connection (pgx) or rolling the whole transaction
		// back (SQLite), which would fail the other deliveries.
		op.panicked, op.panicVal, op.err = callHandler(context.WithoutCancel(op.ctx), tx, op)
		if op.err == nil && !op.panicked {
			continue
		}
		_ = tx.Rollback()
		if abortedBefore(op.err) {
			// An earlier handler broke the transaction and returned nil:
			// which one is unknown, so op is not to blame.
			in.fallBack(ops, nil)
		} else {
			in.fallBack(ops, op)
		}
		return true, nil
	}
	if err := tx.Commit(); err != nil {
		in.fallBack(ops, nil)
		return true, fmt.Errorf("outbox: inbox: group commit of %d deliveries: %w", len(ops), err)
	}
	for _, op := range fresh {
		op.ran = true
	}
	return false, nil
}

// markKey is a mark's primary key.
type markKey struct{ consumer, id string }

// markBatch inserts the marks of ops' messages in one statement and
// returns the ops whose mark it inserted, in batch order: those are new.
// Of the others, those whose mark was committed before are duplicates
// (seen) and later copies of a message earlier in the batch are
// duplicates as long as the batch stands; both keep ran false, err nil.
func (in *Inbox) markBatch(ctx context.Context, tx *sql.Tx, ops []*inboxOp) ([]*inboxOp, error) {
	first := make(map[markKey]*inboxOp, len(ops))
	keys := make([]markKey, 0, len(ops))
	for _, op := range ops {
		k := markKey{op.consumer, op.msg.ID}
		if _, ok := first[k]; !ok {
			first[k] = op
			keys = append(keys, k)
		}
	}
	// In key order, so that two batches (of two processes) marking some
	// of the same messages take the marks' locks in the same order and do
	// not deadlock on them.
	slices.SortFunc(keys, func(a, b markKey) int {
		return cmp.Or(strings.Compare(a.consumer, b.consumer), strings.Compare(a.id, b.id))
	})
	var q strings.Builder
	q.WriteString("INSERT INTO " + in.table + " (consumer, id, processed_at) VALUES ")
	args := make([]any, 1, 1+2*len(keys))
	args[0] = time.Now().UnixNano()
	for i, k := range keys {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("($" + strconv.Itoa(2+2*i) + ", $" + strconv.Itoa(3+2*i) + ", $1)")
		args = append(args, k.consumer, k.id)
	}
	q.WriteString(" ON CONFLICT DO NOTHING RETURNING consumer, id")
	rows, err := tx.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	inserted := make(map[markKey]bool, len(keys))
	for rows.Next() {
		var k markKey
		if err := rows.Scan(&k.consumer, &k.id); err != nil {
			return nil, err
		}
		inserted[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	fresh := make([]*inboxOp, 0, len(inserted))
	for _, op := range ops {
		k := markKey{op.consumer, op.msg.ID}
		switch {
		case first[k] != op: // a later copy: the first one decides
		case inserted[k]:
			fresh = append(fresh, op)
		default:
			op.seen = true
		}
	}
	return fresh, nil
}

// fallBack processes each delivery of a rolled-back batch again with a
// transaction of its own, as Process does without group commit, except
// failed, which keeps its own error or panic, and the duplicates of marks
// committed before the batch, which stay duplicates. A handler's effects
// outside its transaction may thus repeat, as on a redelivery.
func (in *Inbox) fallBack(ops []*inboxOp, failed *inboxOp) {
	for _, op := range ops {
		if op == failed || op.seen {
			continue
		}
		op.panicked, op.panicVal = false, nil
		op.ran, op.err = false, nil
		in.processAlone(op)
	}
}

// processAlone processes op in a transaction of its own, with op's
// context without its cancellation (op was taken into a batch), turning a
// panic of its handler into a value to raise again in op's caller.
func (in *Inbox) processAlone(op *inboxOp) {
	defer func() {
		if r := recover(); r != nil {
			op.ran, op.panicked, op.panicVal = false, true, r
		}
	}()
	op.ran, op.err = in.processTx(context.WithoutCancel(op.ctx), op.consumer, op.msg, op.h)
}

// abortedBefore reports whether err is PostgreSQL's refusal of a
// statement in a transaction that an earlier statement broke (SQLSTATE
// 25P02, in_failed_sql_transaction), as pgx's errors report it.
func abortedBefore(err error) bool {
	var pg interface{ SQLState() string }
	return errors.As(err, &pg) && pg.SQLState() == "25P02"
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
