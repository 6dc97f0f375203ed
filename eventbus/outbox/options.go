package outbox

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// ErrInvalidOption is wrapped by the error of a constructor given an
// invalid option, along with eventbus.ErrInvalidOption, so that either
// sentinel matches it.
var ErrInvalidOption = errors.New("outbox: invalid option")

// DefaultTable and DefaultInboxTable are the default table names.
const (
	DefaultTable      = "microkit_outbox"
	DefaultInboxTable = "microkit_inbox"
)

// Option configures Migrate, New, NewRelay and NewInbox; each reads the
// options that concern it and ignores the others.
type Option func(*config) error

type config struct {
	table         string
	inboxTable    string
	batchSize     int
	pollInterval  time.Duration
	maxBackoff    time.Duration
	retention     time.Duration
	publishWait   time.Duration
	pruneInterval time.Duration
	wakeup        Waker
	groupCommit   int // an inbox's largest batch; 0: no group commit
	notifyTrigger bool
	listeners     []Listener
	logger        *slog.Logger
}

func newConfig(opts []Option) (config, error) {
	c := config{
		table:         DefaultTable,
		inboxTable:    DefaultInboxTable,
		batchSize:     100,
		pollInterval:  time.Second,
		maxBackoff:    time.Second,
		retention:     24 * time.Hour,
		publishWait:   30 * time.Second,
		pruneInterval: time.Minute,
		logger:        slog.Default(),
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

// WithTable sets the outbox table's name. Default DefaultTable.
func WithTable(name string) Option {
	return func(c *config) error {
		if err := validIdent(name); err != nil {
			return invalid("%v", err)
		}
		c.table = name
		return nil
	}
}

// WithInboxTable sets the inbox table's name. Default DefaultInboxTable.
func WithInboxTable(name string) Option {
	return func(c *config) error {
		if err := validIdent(name); err != nil {
			return invalid("%v", err)
		}
		c.inboxTable = name
		return nil
	}
}

// WithNotifyTrigger makes Migrate install, on PostgreSQL, a trigger that
// sends NOTIFY on the channel named after the outbox table at the end of
// every statement that adds events, which the pgnotify.Listeners on that
// channel hear when the transaction commits, whoever the producer is. It
// is an option of Migrate only (the others ignore it), and SQLite, which
// has no NOTIFY, ignores it too.
//
// It is for producers that cannot call a pgnotify.Notifier (or a Signal)
// after their commits, and it costs every one of them: a transaction that
// sends NOTIFY takes a database-wide lock before its commit and holds it
// through the commit's WAL flush, so the transactions that add events
// commit one at a time instead of sharing flushes: 8 concurrent producers
// commit about half as many transactions per second as without the
// trigger, and 0.65 times as many as with a pgnotify.Notifier (docs/benchmarks.md,
// "Notify after the commit or in it"). Without it Migrate drops the
// trigger if there is one.
func WithNotifyTrigger() Option {
	return func(c *config) error {
		c.notifyTrigger = true
		return nil
	}
}

// WithBatchSize sets how many events a relay publishes per round (one
// Publish call, one transaction). Default 100.
func WithBatchSize(n int) Option {
	return func(c *config) error {
		if n <= 0 || n > 10000 {
			return invalid("batch size %d must be in [1, 10000]", n)
		}
		c.batchSize = n
		return nil
	}
}

// WithPollInterval sets how long an idle relay waits before it looks for
// new events again, when no Waker wakes it earlier. Default 1s.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("poll interval %s must be positive", d)
		}
		c.pollInterval = d
		return nil
	}
}

// WithMaxBackoff caps the pause of a relay after failed rounds; the pause
// is 100ms after the first failure (or d, if shorter) and doubles with each
// further one. A relay resumes at most d after an outage ends, so keep it
// short. Default 1s.
func WithMaxBackoff(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("max backoff %s must be positive", d)
		}
		c.maxBackoff = d
		return nil
	}
}

// WithPublishTimeout bounds each Publish of a relay round: publishers that
// retry through broker outages (natsbus, rabbitbus) would otherwise hold the
// round, and on PostgreSQL its row locks, until the broker returns. A round
// that times out counts as failed and is retried after the backoff.
// Default 30s.
func WithPublishTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("publish timeout %s must be positive", d)
		}
		c.publishWait = d
		return nil
	}
}

// WithRetention sets how long sent events stay in the outbox before the
// relay prunes them, and how often it prunes. Default 24h, every minute.
// A zero interval disables pruning; a zero keep prunes every sent event at
// the next prune. Neither may be negative.
func WithRetention(keep, every time.Duration) Option {
	return func(c *config) error {
		if keep < 0 || every < 0 {
			return invalid("retention %s every %s must not be negative", keep, every)
		}
		c.retention, c.pruneInterval = keep, every
		return nil
	}
}

// WithWaker sets what wakes an idle relay before its poll interval ends:
// a Signal that the producers of its process notify, or on PostgreSQL a
// pgnotify.Listener, which the producers' pgnotify.Notifier (or the
// trigger of WithNotifyTrigger) notify from any process. Default, and with
// nil: none, the relay polls.
func WithWaker(w Waker) Option {
	return func(c *config) error {
		if w != nil {
			c.wakeup = w
		}
		return nil
	}
}

// WithGroupCommit makes an Inbox handle concurrent deliveries in shared
// transactions of up to maxBatch deliveries, in [1, 10000]: deliveries
// that arrive while a batch runs join the next one, and a batch costs one
// transaction and one commit instead of one per delivery. It concerns
// consumers that handle several deliveries at once
// (eventbus.WithConcurrency, eventbus.HandlerConcurrency); a delivery that
// finds no batch running is handled at once, so a lone delivery waits for
// nothing. It pays off where commits are the bottleneck, as on SQLite (a
// single writer that syncs the disk at each commit); on PostgreSQL, which
// already shares the WAL flush of concurrent commits, a delivery's cost
// is its round trips, and a batch saves two of them per delivery (its
// BEGIN and COMMIT) while serializing the handlers: measure
// (docs/benchmarks.md).
//
// A batch is optimistic: BEGIN, one INSERT ... ON CONFLICT DO NOTHING
// RETURNING that marks every delivery of the batch (those whose mark
// already existed are duplicates, as is the second delivery of one
// message within the batch), the handlers of the new ones one after
// another on the shared transaction, COMMIT. The guarantee is the
// inbox's: each message runs once per consumer, its handler's writes
// committed atomically with its mark. If a handler fails (or panics), the
// whole batch rolls back; that delivery gets its error (its panic is
// raised again in its own caller), and every other delivery of the batch
// is processed again with a transaction of its own, as without group
// commit. If the commit (or the mark statement) fails, every delivery is
// processed again that way. So a failure costs the batch's work once
// more, and the other handlers of a failed batch run twice, their first
// run rolled back: a handler's effects outside its transaction (a call to
// another service, a log line) may repeat, as they already may on a
// redelivery. On PostgreSQL a handler that ignores a failed statement's
// error leaves the transaction aborted: the next handler's statements
// fail with SQLSTATE 25P02, which blames no one, and the batch falls back
// whole; the culprit's own transaction then fails at its commit.
//
// The trade-off: the handlers of a batch run one after another on one
// connection, so group commit suits handlers whose work is writes in the
// transaction and that rarely fail, and a slow handler delays its whole
// batch. A handler runs with its delivery's context values but not its
// cancellation, as the drivers end an interrupted statement by breaking
// the connection (pgx) or the transaction (SQLite), which would fail the
// whole batch; a delivery whose context ends before a batch takes it
// returns the context's error, unrun. Locks taken by the marks and the
// handlers' writes are held until the batch commits, so batches of two
// processes may conflict on the same rows: PostgreSQL then aborts one
// (the marks are inserted in key order, so the marks alone do not
// deadlock), and its deliveries are processed again one by one. The
// batch's BEGIN and COMMIT have no caller's deadline: one caller hanging
// up must not fail the others.
//
// WithListener's listeners learn of each batch (EventInboxBatch, whose
// FellBack tells a batch that was processed again one by one).
func WithGroupCommit(maxBatch int) Option {
	return func(c *config) error {
		if maxBatch < 1 || maxBatch > 10000 {
			return invalid("group commit batch %d must be in [1, 10000]", maxBatch)
		}
		c.groupCommit = maxBatch
		return nil
	}
}

// WithLogger sets the logger of relay failures. Default, and with nil,
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l != nil {
			c.logger = l
		}
		return nil
	}
}
