package redisbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/internal/groupcommit"
	"github.com/redis/go-redis/v9"
)

// Bus publishes to and consumes from one Redis stream. It is an
// eventbus.Publisher and an eventbus.Subscriber, safe for concurrent use.
type Bus struct {
	cfg   config
	rdb   *redis.Client
	owned bool // Close closes rdb

	group     *groupcommit.Group[*publishReq] // shares pipelines among concurrent Publish calls
	pubs      sync.WaitGroup                  // the Publish calls in progress; Add under mu while open
	stopping  chan struct{}                   // closed by Close: ends the retry waits of Publish calls
	published atomic.Bool                     // something was published since the last trim

	trimCtx    context.Context    // canceled by Close: stops the trimmer and its trim
	trimCancel context.CancelFunc // cancels trimCtx
	trimDone   chan struct{}      // closed when the trimmer returned

	closeDone chan struct{} // closed when the work of Close is done
	closeErr  error         // set before closeDone is closed

	mu       sync.Mutex
	subs     map[*subscription]struct{}
	isClosed bool
}

// Connect connects to the Redis server at addr, either "host:port" or a
// URL ("redis://user:pass@host:port/db", "rediss://" for TLS), checks that
// it answers, and returns a bus that owns the client: Close closes it.
func Connect(ctx context.Context, addr string, opts ...Option) (*Bus, error) {
	cfg, err := configure(opts)
	if err != nil {
		return nil, err
	}
	ro := &redis.Options{Addr: addr}
	if strings.Contains(addr, "://") {
		if ro, err = redis.ParseURL(addr); err != nil {
			return nil, fmt.Errorf("redisbus: connect: %w: %w", eventbus.ErrInvalidOption, err)
		}
	}
	rdb := redis.NewClient(ro)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redisbus: connect %s: %w", addr, err)
	}
	b := newBus(rdb, cfg)
	b.owned = true
	return b, nil
}

// New returns a bus on a client the caller owns and closes after the bus
// (Close then leaves the client open). The stream and the consumer groups
// are created when first used. A stream lives on one Redis node, so the
// client is a single-node (or Sentinel failover) client.
func New(rdb *redis.Client, opts ...Option) (*Bus, error) {
	if rdb == nil {
		return nil, fmt.Errorf("redisbus: new: %w: nil client", eventbus.ErrInvalidOption)
	}
	cfg, err := configure(opts)
	if err != nil {
		return nil, err
	}
	return newBus(rdb, cfg), nil
}

func newBus(rdb *redis.Client, cfg config) *Bus {
	b := &Bus{cfg: cfg, rdb: rdb, closeDone: make(chan struct{}), subs: make(map[*subscription]struct{}),
		trimDone: make(chan struct{}), stopping: make(chan struct{})}
	b.group = groupcommit.New(maxCoalesced, b.publishBatch)
	// The trimmer's context lives as long as the bus, which a context
	// argument could not: Close cancels it.
	b.trimCtx, b.trimCancel = context.WithCancel(context.Background())
	if cfg.trimInterval > 0 {
		go b.trimLoop()
	} else {
		close(b.trimDone)
	}
	return b
}

// Stream returns the key of the bus's stream.
func (b *Bus) Stream() string { return b.cfg.stream }

// Close closes every subscription (sending their queued acks and handing
// what they read but did not settle back to their groups) and the
// background trimmer, and waits for the Publish calls in progress: those
// waiting for a pipeline's reply get it, those waiting to retry return
// eventbus.ErrClosed at once. Then, if the bus owns the client, it closes
// it. It waits for that until ctx ends, then closes the client at once
// (Publish calls still waiting for Redis return eventbus.ErrClosed) and
// returns ctx's error. It is idempotent and safe to call concurrently: a
// second Close waits for the first one's work, bounded by its own ctx.
func (b *Bus) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.isClosed {
		b.mu.Unlock()
		select {
		case <-b.closeDone:
			return b.closeErr
		case <-ctx.Done():
			return fmt.Errorf("redisbus: close: %w", ctx.Err())
		}
	}
	b.isClosed = true
	subs := make([]*subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.subs = nil
	close(b.stopping)
	b.mu.Unlock()
	go func() {
		b.closeErr = b.close(subs)
		close(b.closeDone)
	}()
	select {
	case <-b.closeDone:
		return b.closeErr
	case <-ctx.Done():
		if b.owned {
			_ = b.rdb.Close() // give up on a clean hand-back: drop the connections now
		}
		return fmt.Errorf("redisbus: close: %w", ctx.Err())
	}
}

// close does the work of Close: the subscriptions at once (each bounds its
// wait for Redis to a few seconds), the trimmer and the Publish calls in
// progress, then the owned client.
func (b *Bus) close(subs []*subscription) error {
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(s.close)
	}
	b.trimCancel()
	wg.Wait()
	<-b.trimDone
	b.pubs.Wait()
	if !b.owned {
		return nil
	}
	if err := b.rdb.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("redisbus: close: %w", err)
	}
	return nil
}

// startPublish counts a Publish call in, unless the bus is closed; the
// call ends with b.pubs.Done.
func (b *Bus) startPublish() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.isClosed {
		return false
	}
	b.pubs.Add(1)
	return true
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

// trimLoop trims the stream every trim interval while the bus has
// published since the last trim: consumers alone never grow the stream.
func (b *Bus) trimLoop() {
	defer close(b.trimDone)
	t := time.NewTicker(b.cfg.trimInterval)
	defer t.Stop()
	for {
		select {
		case <-b.trimCtx.Done():
			return
		case <-t.C:
		}
		if !b.published.Swap(false) {
			continue
		}
		ctx, cancel := context.WithTimeout(b.trimCtx, b.cfg.trimInterval)
		if _, err := b.Trim(ctx); err != nil {
			b.published.Store(true) // try again next time
			b.cfg.logger.Warn("redisbus: trim", "stream", b.cfg.stream, "error", err)
		}
		cancel()
	}
}
