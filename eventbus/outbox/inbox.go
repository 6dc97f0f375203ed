package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/internal/groupcommit"
	"github.com/go-microkit/microkit/internal/sqldb"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/sqldialect"
)

// TxHandler handles a message inside tx: it makes its changes (and may Add
// events to the outbox) through tx, and the inbox commits them together
// with the message's processed mark.
type TxHandler func(ctx context.Context, tx *sql.Tx, msg *eventbus.Message) error

// Inbox makes handlers idempotent: it records each message it handled in
// the inbox table in the same transaction as the handler's changes, so a
// redelivered message (the broker's at-least-once, a relay that published
// twice) is acknowledged without a second effect. It is safe for
// concurrent use.
//
// Built with WithGroupCommit, it handles concurrent deliveries in shared
// transactions (see WithGroupCommit); otherwise each delivery has a
// transaction of its own.
type Inbox struct {
	db        *sql.DB
	table     string
	listeners []Listener
	group     *groupcommit.Group[*inboxOp] // nil: a transaction per delivery
}

// NewInbox returns an inbox on db's inbox table. Options: WithInboxTable,
// WithGroupCommit, WithListener (told of every group-committed batch).
func NewInbox(db *sql.DB, dialect sqldialect.Dialect, opts ...Option) (*Inbox, error) {
	if db == nil {
		return nil, fmt.Errorf("outbox: new inbox: %w", invalid("nil database"))
	}
	if err := checkDialect(dialect); err != nil {
		return nil, fmt.Errorf("outbox: new inbox: %w", err)
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("outbox: new inbox: %w", err)
	}
	in := &Inbox{db: db, table: c.inboxTable, listeners: c.listeners}
	if c.groupCommit > 0 {
		in.group = groupcommit.New(c.groupCommit, in.runBatch)
	}
	return in, nil
}

// Handler returns an eventbus.Handler that, for each message, begins a
// transaction, marks the message processed for the handler and runs h in
// that transaction. If the handler had processed the message already, h
// is not run and the delivery is acknowledged; if h fails, everything
// rolls back, the mark included, and the error goes to the router (retry,
// dead-letter) as usual.
//
// The mark's consumer is consumer (usually the consumer group), then "/"
// and the handler's name from the router's eventbus.DeliveryInfo (its
// pattern unless named), so that two handlers of one group that match one
// message ("order.>" and "order.created") each run once; called outside a
// router, it is consumer alone. Renaming a handler forgets what it
// processed.
//
// Two deliveries of one message at once are serialized by the mark's
// primary key: the second waits for the first's transaction and then sees
// the message processed (or, if the first rolled back, processes it).
//
// The mark and h run under the delivery's context; once h returned nil,
// the commit does not depend on it, so a deadline that passes then does
// not undo the work of a handler that finished.
func (in *Inbox) Handler(consumer string, h TxHandler) eventbus.Handler {
	return func(ctx context.Context, msg *eventbus.Message) error {
		key := consumer
		if info, ok := eventbus.DeliveryFromContext(ctx); ok && info.Handler != "" {
			key += "/" + info.Handler
		}
		_, err := in.Process(ctx, key, msg, h)
		return err
	}
}

// Process handles msg once for consumer, as Handler does, and reports
// whether h ran (false: the message had been processed already). consumer
// is the mark's consumer as given: one per handler.
//
// With WithGroupCommit, Process waits for the next batch; if ctx ends
// before the batch took the delivery, it returns ctx's error and h does
// not run. A panic of h is raised again in Process's caller.
func (in *Inbox) Process(ctx context.Context, consumer string, msg *eventbus.Message, h TxHandler) (bool, error) {
	if in.group != nil {
		return in.processGrouped(ctx, consumer, msg, h)
	}
	return in.processTx(ctx, consumer, msg, h)
}

// processTx is Process with a transaction of its own: without group
// commit, and for the deliveries of a batch that fell back.
//
// The transaction does not end with ctx (database/sql would roll it back
// then, and refuse its commit): a handler that returned nil as its delivery's
// deadline passed has done its work (and perhaps work outside the
// transaction, which the mark records as done), and its commit must not
// be refused for it. The mark and h run under ctx, so an ended ctx still
// stops them.
func (in *Inbox) processTx(ctx context.Context, consumer string, msg *eventbus.Message, h TxHandler) (bool, error) {
	tx, release, err := sqldb.BeginDetached(ctx, in.db)
	if err != nil {
		return false, fmt.Errorf("outbox: inbox: begin: %w", err)
	}
	defer release()
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, "INSERT INTO "+in.table+" (consumer, id, processed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
		consumer, msg.ID, time.Now().UnixNano())
	if err != nil {
		return false, fmt.Errorf("outbox: inbox: mark %s: %w", msg.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("outbox: inbox: mark %s: %w", msg.ID, err)
	} else if n == 0 {
		return false, nil // processed before: a duplicate
	}
	if err := h(ctx, tx, msg); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("outbox: inbox: commit %s: %w", msg.ID, err)
	}
	return true, nil
}

// Prune deletes the processed marks older than keep and returns how many
// it deleted. A message redelivered after its mark was pruned is handled
// again, so keep must exceed the longest redelivery window (the broker's
// retention, the outbox retention).
func (in *Inbox) Prune(ctx context.Context, keep time.Duration) (int64, error) {
	res, err := in.db.ExecContext(ctx, "DELETE FROM "+in.table+" WHERE processed_at < $1", time.Now().Add(-keep).UnixNano())
	if err != nil {
		return 0, fmt.Errorf("outbox: inbox prune: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
