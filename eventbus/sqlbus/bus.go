package sqlbus

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/go-microkit/microkit/internal/groupcommit"
	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/sqldialect"
)

// Bus publishes to and consumes from the tables Migrate created, in a
// database the caller opened and closes after the bus. It is an
// eventbus.Publisher and an eventbus.Subscriber, safe for concurrent use.
type Bus struct {
	db      *sql.DB
	dialect sqldialect.Dialect
	cfg     config
	stmts   statements
	pubs    *groupcommit.Group[*publishReq]
	acks    *groupcommit.Group[*settleReq] // confirmed acks
	queued  ackQueue                       // unconfirmed acks

	notifyAll chan struct{} // a Publish committed: notify the listeners (PostgreSQL)

	stop chan struct{}  // closed by Close: stops the background goroutines
	bg   sync.WaitGroup // the listener and the pruner

	closeDone chan struct{} // closed when the work of Close is done
	closeErr  error         // set before closeDone is closed

	mu       sync.Mutex
	subs     map[*subscription]struct{}
	isClosed bool
}

// maxBatch bounds the publishes and the acknowledgements that concurrent
// callers share in one statement.
const maxBatch = 256

// New returns a bus on db, whose tables Migrate created (with the same
// WithTable). It prunes consumed messages (see WithRetention) and, given
// a Waker, wakes its subscriptions for other processes' publishes.
// Options: every Option.
func New(db *sql.DB, dialect sqldialect.Dialect, opts ...Option) (*Bus, error) {
	if db == nil {
		return nil, fmt.Errorf("sqlbus: new: %w", invalid("nil database"))
	}
	if err := sqldb.Check(dialect); err != nil {
		return nil, fmt.Errorf("sqlbus: new: %w", invalid("%v", err))
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("sqlbus: new: %w", err)
	}
	b := &Bus{
		db: db, dialect: dialect, cfg: cfg, stmts: newStatements(dialect, cfg.table),
		stop: make(chan struct{}), closeDone: make(chan struct{}), subs: make(map[*subscription]struct{}),
	}
	b.pubs = groupcommit.New(maxBatch, b.publishBatch)
	b.acks = groupcommit.New(maxBatch, b.ackBatch)
	b.queued.signal = make(chan struct{}, 1)
	b.notifyAll = make(chan struct{}, 1)
	if dialect == sqldialect.Postgres {
		b.bg.Go(b.notifyLoop)
	}
	if !cfg.confirmAcks {
		b.bg.Go(b.flushAcks)
	}
	if cfg.waker != nil {
		b.bg.Go(b.listen)
	}
	if cfg.pruneEvery > 0 {
		b.bg.Go(b.pruneLoop)
	}
	return b, nil
}

// listen wakes every subscription whenever the Waker returns: on
// PostgreSQL with a pgnotify.Listener, when a publish that created
// deliveries committed, in any process. After a failure (the server
// restarted) it waits again after a pause; a pgnotify.Listener then
// listens anew and returns at once, waking the subscriptions for what they
// may have missed.
func (b *Bus) listen() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	failures := 0
	for {
		err := b.cfg.waker.Wait(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			pause := min(b.cfg.pollInterval, backoff.Delay(failures))
			b.cfg.logger.Debug("sqlbus: waiting for a wake-up failed", "error", err, "retry_in", pause)
			if !b.sleep(pause) {
				return
			}
			continue
		}
		failures = 0
		b.wakeAll()
	}
}

// notifyLoop sends a notification on the table's channel after Publish
// calls committed, one per burst: the publishes that commit while it
// notifies, or in the notifyEvery after, are announced by the next one. It runs in a transaction of its
// own, with an asynchronous commit, because a transaction that notifies
// holds a lock that serializes all such commits until its own is flushed.
func (b *Bus) notifyLoop() {
	for {
		select {
		case <-b.notifyAll:
		case <-b.stop:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		if _, err := b.db.ExecContext(ctx, b.stmts.notify); err != nil {
			b.cfg.logger.Debug("sqlbus: notify failed; other processes see the messages at their next poll", "error", err)
		}
		cancel()
		if !b.sleep(notifyEvery) {
			return
		}
	}
}

// notifyEvery paces the notifications after Publish calls: while
// publishes follow each other, one at most per notifyEvery, rather than
// a transaction per publish statement; the first after a pause goes at
// once.
const notifyEvery = 2 * time.Millisecond

// sleep waits d or until the bus closes; it reports whether the bus is
// still open.
func (b *Bus) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.stop:
		return false
	}
}

// wakeAll wakes every subscription of the bus.
func (b *Bus) wakeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.wakeUp()
	}
}

// Close closes every subscription (releasing what each claimed but did
// not see settled, so that other instances of its group get it at once),
// deletes the deliveries acknowledged but still queued, and stops waiting
// on the Waker and pruning. It waits for that until ctx ends, then
// returns ctx's error; the bus is closed either way, and leaves the
// database open. It is idempotent and safe to call concurrently: a second
// Close waits for the first one's work, bounded by its own ctx.
func (b *Bus) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.isClosed {
		b.mu.Unlock()
		select {
		case <-b.closeDone:
			return b.closeErr
		case <-ctx.Done():
			return fmt.Errorf("sqlbus: close: %w", ctx.Err())
		}
	}
	b.isClosed = true
	subs := make([]*subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.subs = nil
	b.mu.Unlock()
	close(b.stop)
	go func() {
		var wg sync.WaitGroup
		for _, s := range subs {
			wg.Go(s.close)
		}
		wg.Wait()
		b.bg.Wait()
		close(b.closeDone)
	}()
	select {
	case <-b.closeDone:
		return b.closeErr
	case <-ctx.Done():
		return fmt.Errorf("sqlbus: close: %w", ctx.Err())
	}
}

func (b *Bus) isClosedNow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.isClosed
}

func (b *Bus) forget(s *subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, s)
}
