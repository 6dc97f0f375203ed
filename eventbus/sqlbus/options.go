package sqlbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/internal/sqldb"
)

// ErrInvalidOption is wrapped by the error of Migrate and New given an
// invalid option, along with eventbus.ErrInvalidOption, so that either
// sentinel matches it.
var ErrInvalidOption = errors.New("sqlbus: invalid option")

// DefaultTable is the default name of the messages table; the groups and
// deliveries tables are named after it ("<table>_groups",
// "<table>_deliveries").
const DefaultTable = "microkit_bus"

// Option configures Migrate and New; Migrate reads only WithTable.
type Option func(*config) error

type config struct {
	table        string
	ackWait      time.Duration
	prefetch     int
	pollInterval time.Duration
	waker        Waker
	confirmAcks  bool
	keep         time.Duration
	pruneEvery   time.Duration
	maxAge       time.Duration
	logger       *slog.Logger
}

func newConfig(opts []Option) (config, error) {
	c := config{
		table:        DefaultTable,
		ackWait:      30 * time.Second,
		prefetch:     64,
		pollInterval: time.Second,
		pruneEvery:   time.Minute,
		logger:       slog.Default(),
	}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w (%w): "+format, append([]any{ErrInvalidOption, eventbus.ErrInvalidOption}, args...)...)
}

// tableName is what WithTable accepts: lower-case, and short enough to
// leave room for the suffixes of the other tables and of index names.
var tableName = sqldb.IdentRule{MaxLen: 40, LowerOnly: true}

// WithTable sets the messages table's name: lower-case letters, digits
// and '_', at most 40 characters. On PostgreSQL it also names the
// LISTEN/NOTIFY channel. Default DefaultTable.
func WithTable(name string) Option {
	return func(c *config) error {
		if err := tableName.Check(name); err != nil {
			return invalid("%v", err)
		}
		c.table = name
		return nil
	}
}

// WithAckWait sets the visibility timeout: how long a claimed delivery
// stays invisible to the other instances of its group before it is
// redelivered, if it is not settled by then (a crashed consumer). It
// counts from the claim, so it also covers the time a delivery waits in
// the prefetch for a worker: keep handler timeouts well below it. Default
// 30s.
func WithAckWait(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("ack wait %s must be positive", d)
		}
		c.ackWait = d
		return nil
	}
}

// WithPrefetch sets how many messages a subscription claims ahead of
// Next when its Subscribe call does not say. It claims again, in one
// statement, once half of them were handed out, and takes up to half a
// prefetch more to take the messages of one publish whole. Default 64.
func WithPrefetch(n int) Option {
	return func(c *config) error {
		if n <= 0 || n > 10000 {
			return invalid("prefetch %d must be in [1, 10000]", n)
		}
		c.prefetch = n
		return nil
	}
}

// WithPollInterval sets how often an idle subscription looks for
// deliveries without being woken: the latency of what nothing announces
// (a delivery whose visibility timeout ran out, one nacked by another
// process, messages published in a caller's transaction or, without a
// Waker, by another process). Default 1s.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("poll interval %s must be positive", d)
		}
		c.pollInterval = d
		return nil
	}
}

// Waker wakes a bus's idle subscriptions when messages may have been
// published by another process. On PostgreSQL, every publish that creates
// deliveries sends a NOTIFY on the channel named after the messages table
// when it commits, and a pgnotify.Listener (package
// eventbus/outbox/pgnotify) on that channel is a Waker:
//
//	l := pgnotify.New(db, sqlbus.DefaultTable)
//	bus, err := sqlbus.New(db, sqldialect.Postgres, sqlbus.WithWaker(l))
//	...
//	defer l.Close(ctx) // after the bus's Close
type Waker interface {
	// Wait blocks until something may have been published or ctx ends.
	// An error other than ctx's is logged, and Wait called again after a
	// pause.
	Wait(ctx context.Context) error
}

// WithWaker sets what wakes the bus's idle subscriptions for messages
// other processes publish, such as pgnotify.Listener on PostgreSQL. The
// bus calls its Wait from one goroutine until it closes; closing the
// Waker is the caller's, after the bus. Default, and with nil: none,
// subscriptions see other processes' messages at their next poll (a
// bus's own publishes wake its subscriptions either way).
func WithWaker(w Waker) Option {
	return func(c *config) error {
		if w != nil {
			c.waker = w
		}
		return nil
	}
}

// WithRetention sets how long a message that every group consumed stays
// in the table (for inspection), and how often the bus prunes. Default 0,
// deleted at the next prune, every minute. A zero interval disables
// pruning (call Prune yourself); neither may be negative.
func WithRetention(keep, every time.Duration) Option {
	return func(c *config) error {
		if keep < 0 || every < 0 {
			return invalid("retention %s every %s must not be negative", keep, every)
		}
		c.keep, c.pruneEvery = keep, every
		return nil
	}
}

// WithMaxAge makes Prune delete messages older than d even when groups
// have not consumed them yet, with their pending deliveries: a bound on
// the table for groups that stopped consuming, at the price of losing
// what they had not consumed. Default 0: none, nothing is deleted before
// every group consumed it.
func WithMaxAge(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return invalid("max age %s must not be negative", d)
		}
		c.maxAge = d
		return nil
	}
}

// WithConfirmedAcks makes Ack and Term wait until the deletion of the
// delivery committed (concurrent ones share a statement), so that an Ack
// that returns nil is known to be recorded, and one that lost its claim
// (the visibility timeout ran out) returns ErrStaleDelivery. Default: Ack
// and Term queue the deletion and return; the bus deletes what is queued
// in one statement per round trip, and a deletion that fails means a
// redelivery after the visibility timeout, which at-least-once allows.
// Bus.Close deletes what is still queued.
func WithConfirmedAcks() Option {
	return func(c *config) error {
		c.confirmAcks = true
		return nil
	}
}

// WithLogger sets the logger for claim and wake-up failures and
// retention. Default, and with nil, slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l != nil {
			c.logger = l
		}
		return nil
	}
}
