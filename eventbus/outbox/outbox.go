package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// Outbox writes events into an outbox table inside the caller's
// transactions. It is safe for concurrent use; the zero value is not
// usable, use New (or the package-level Add for the default table).
type Outbox struct {
	table string
}

// New returns an Outbox on the table set by WithTable (DefaultTable by
// default). Options: WithTable.
func New(opts ...Option) (*Outbox, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("outbox: new: %w", err)
	}
	return &Outbox{table: c.table}, nil
}

var defaultOutbox, _ = New()

// Add writes msgs into the default outbox table inside tx; see Outbox.Add.
func Add(ctx context.Context, tx *sql.Tx, msgs ...*eventbus.Message) error {
	return defaultOutbox.Add(ctx, tx, msgs...)
}

// AddAt writes msgs into the default outbox table inside tx, to be
// published at time at; see Outbox.AddAt.
func AddAt(ctx context.Context, tx *sql.Tx, at time.Time, msgs ...*eventbus.Message) error {
	return defaultOutbox.AddAt(ctx, tx, at, msgs...)
}

// AddAfter writes msgs into the default outbox table inside tx, to be
// published d from now; see Outbox.AddAfter.
func AddAfter(ctx context.Context, tx *sql.Tx, d time.Duration, msgs ...*eventbus.Message) error {
	return defaultOutbox.AddAfter(ctx, tx, d, msgs...)
}

// addChunk bounds the rows of one INSERT (6 parameters each; PostgreSQL allows 65535).
const addChunk = 1000

// Add writes msgs into the outbox inside tx, the transaction of the
// business change they describe: they are published after tx commits, and
// never if it rolls back. Messages must pass Message.Validate; Add stores
// them as eventbus.Marshal encodes them, so a later change to a message
// does not change the stored event.
func (o *Outbox) Add(ctx context.Context, tx *sql.Tx, msgs ...*eventbus.Message) error {
	return o.add(ctx, tx, 0, msgs)
}

// AddAt is Add for events to be published at time at, not before: the
// outbox holds them, and a Relay publishes them once its clock (time.Now
// of the relay's process) reaches at, through whatever publisher it has,
// so scheduling works the same on every broker and survives restarts of
// the relay and of the database. A time in the past makes them due at
// once. at must not be the zero time.
//
// Scheduled events never hold back other events, of their subject or any
// other: a relay publishes the events added with Add first, in the order
// they were added, then the scheduled events that are due, in the order
// of their due times and, at one due time, in the order they were added.
// Within one subject, the events added with Add keep their order, and a
// scheduled event is published once due, after the events of its subject
// that wait then. See the package documentation for how precisely a
// relay keeps the time.
func (o *Outbox) AddAt(ctx context.Context, tx *sql.Tx, at time.Time, msgs ...*eventbus.Message) error {
	if at.IsZero() {
		return fmt.Errorf("outbox: add: zero delivery time")
	}
	// 0 is the due time of unscheduled events: a scheduled event is due
	// at 1 at the earliest, so it never overtakes them.
	return o.add(ctx, tx, max(at.UnixNano(), 1), msgs)
}

// AddAfter is AddAt for time.Now().Add(d): the events are published d
// from now (by the clock of the process that adds them, which the
// relay's clock may differ from), or at once if d is not positive.
func (o *Outbox) AddAfter(ctx context.Context, tx *sql.Tx, d time.Duration, msgs ...*eventbus.Message) error {
	return o.AddAt(ctx, tx, time.Now().Add(d), msgs...)
}

// add inserts msgs due at dueAt (Unix nanoseconds; 0: unscheduled).
func (o *Outbox) add(ctx context.Context, tx *sql.Tx, dueAt int64, msgs []*eventbus.Message) error {
	if tx == nil {
		return fmt.Errorf("outbox: add: nil transaction")
	}
	now := time.Now().UnixNano()
	for len(msgs) > 0 {
		n := min(len(msgs), addChunk)
		var q strings.Builder
		q.WriteString("INSERT INTO " + o.table + " (id, type, subject, envelope, created_at, due_at) VALUES ")
		args := make([]any, 0, 6*n)
		for i, m := range msgs[:n] {
			env, err := eventbus.Marshal(m)
			if err != nil {
				return fmt.Errorf("outbox: add: %w", err)
			}
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(" + params(len(args)+1, 6) + ")")
			args = append(args, m.ID, m.Type, m.Subject, env, now, dueAt)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("outbox: add: %w", err)
		}
		msgs = msgs[n:]
	}
	return nil
}
