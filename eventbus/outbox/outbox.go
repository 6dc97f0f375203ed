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

// addChunk bounds the rows of one INSERT (5 parameters each; PostgreSQL allows 65535).
const addChunk = 1000

// Add writes msgs into the outbox inside tx, the transaction of the
// business change they describe: they are published after tx commits, and
// never if it rolls back. Messages must pass Message.Validate; Add stores
// them as eventbus.Marshal encodes them, so a later change to a message
// does not change the stored event.
func (o *Outbox) Add(ctx context.Context, tx *sql.Tx, msgs ...*eventbus.Message) error {
	if tx == nil {
		return fmt.Errorf("outbox: add: nil transaction")
	}
	now := time.Now().UnixNano()
	for len(msgs) > 0 {
		n := min(len(msgs), addChunk)
		var q strings.Builder
		q.WriteString("INSERT INTO " + o.table + " (id, type, subject, envelope, created_at) VALUES ")
		args := make([]any, 0, 5*n)
		for i, m := range msgs[:n] {
			env, err := eventbus.Marshal(m)
			if err != nil {
				return fmt.Errorf("outbox: add: %w", err)
			}
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(" + params(len(args)+1, 5) + ")")
			args = append(args, m.ID, m.Type, m.Subject, env, now)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("outbox: add: %w", err)
		}
		msgs = msgs[n:]
	}
	return nil
}
