package pgnotify

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// notifyStmt sends the notification in a statement of its own, which
// commits without waiting for the WAL flush: a lost notification only
// delays events to the relays' next poll, so it needs no durability. The
// channel is a bind parameter, so any name is safe.
const notifyStmt = `WITH async AS (SELECT set_config('synchronous_commit', 'off', true)) SELECT pg_notify($1, '') FROM async`

// Notifier is the producer's side of [Listener]: call Notify after
// committing a transaction that added events to the outbox, and the
// Listeners on the outbox table's channel, in any process, wake their
// relays.
//
// It sends NOTIFY after the commit, in a statement of its own, rather
// than in the producer's transaction (as outbox.WithNotifyTrigger's
// trigger does): a PostgreSQL transaction that sends NOTIFY takes a
// database-wide lock before its commit and holds it through the commit's
// WAL flush, so every transaction that notifies would commit one at a
// time, without sharing flushes. The Notifier's statement turns
// synchronous_commit off, so it holds that lock for no flush, and costs
// one round trip.
//
// Notify never blocks: a goroutine of the Notifier, started by
// NewNotifier and stopped by Close, sends the notifications. Calls made
// while a send is in flight are coalesced into one more send after it, so
// a burst of commits costs a few notifications, and every call is covered
// by a send that starts after it returns. A failed send is logged and
// dropped: the relays' polling is the safety net. Safe for concurrent use.
type Notifier struct {
	db      *sql.DB
	channel string
	logger  *slog.Logger

	// kick holds at most one pending request for a send: Notify puts
	// one if none is pending, the sending goroutine takes it just before
	// it sends.
	kick chan struct{}
	// stop is closed by Close; done is closed when the goroutine ends.
	stop, done chan struct{}
	stopOnce   sync.Once
	closed     atomic.Bool
	// ctx is the sends' context, cancelled when a Close gives up.
	ctx    context.Context
	cancel context.CancelFunc
}

// Option configures a Notifier.
type Option func(*Notifier)

// WithLogger sets the logger of failed sends. Default, and with nil,
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(n *Notifier) {
		if l != nil {
			n.logger = l
		}
	}
}

// NewNotifier returns a Notifier that sends notifications on channel (the
// outbox table's name, the channel the Listeners listen on) through
// connections of db, which may use any PostgreSQL driver. It starts the
// Notifier's goroutine: call Close when done.
func NewNotifier(db *sql.DB, channel string, opts ...Option) *Notifier {
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{
		db:      db,
		channel: channel,
		logger:  slog.Default(),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
	}
	for _, o := range opts {
		if o != nil {
			o(n)
		}
	}
	go n.run()
	return n
}

// Notify has the Listeners on the channel woken: it returns at once, and
// the Notifier sends a notification that starts after this call, unless
// the Notifier is closed. Call it after the commit of a transaction that
// added events; a call before the commit may wake the relays too early to
// see them. After Close it does nothing.
func (n *Notifier) Notify() {
	if n.closed.Load() {
		return
	}
	select {
	case n.kick <- struct{}{}:
	default: // a send is pending already and will start after this call
	}
}

// run sends a notification for each request it takes, until Close.
func (n *Notifier) run() {
	defer close(n.done)
	for {
		select {
		case <-n.kick:
			n.send()
		case <-n.stop:
			// A Notify that returned before Close is still sent.
			select {
			case <-n.kick:
				n.send()
			default:
			}
			return
		}
	}
}

func (n *Notifier) send() {
	if _, err := n.db.ExecContext(n.ctx, notifyStmt, n.channel); err != nil && n.ctx.Err() == nil {
		n.logger.Warn("pgnotify: notify failed; relays will poll", "channel", n.channel, "error", err)
	}
}

// Close stops the Notifier: later Notify calls do nothing, and Close
// waits until the goroutine has sent the notification that is pending or
// in flight, if any, and ended. If ctx ends first, Close cancels that
// send and returns ctx's error; the goroutine then ends as soon as the
// driver gives up the statement. Close is idempotent and safe to call
// concurrently.
func (n *Notifier) Close(ctx context.Context) error {
	n.closed.Store(true)
	n.stopOnce.Do(func() { close(n.stop) })
	select {
	case <-n.done:
		n.cancel()
		return nil
	case <-ctx.Done():
		n.cancel()
		return fmt.Errorf("pgnotify: close notifier: %w", ctx.Err())
	}
}
