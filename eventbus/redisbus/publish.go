package redisbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
	"github.com/redis/go-redis/v9"
)

// publishReq is one Publish call's messages waiting in the group commit,
// and what their pipeline did.
type publishReq struct {
	vals   [][]any  // the encoded messages not yet known to be stored
	stored int      // how many of vals, from the first, Redis stored
	err    error    // the first of vals[stored:] failed with it; nil: all stored
	one    [1][]any // vals of a call of one message, allocated with the request
}

// maxCoalesced bounds the Publish calls that share one pipeline.
const maxCoalesced = 256

// Publish appends msgs to the stream (XADD), all in one pipeline: one round
// trip for the batch. Redis executes the commands of a connection in
// order, so the messages are stored in their order. It returns once Redis
// replied to each; how durable that is depends on the server's persistence
// (see the package documentation). Through disconnects and server
// restarts it sends again, in order, every message from the first one
// that got no reply, until ctx ends or the bus closes: a message whose
// reply was lost is stored twice, and consumers deduplicate on Message.ID.
//
// Concurrent calls share pipelines: a call that finds no pipeline of the
// bus in flight sends its own at once; the calls that arrive meanwhile
// wait and go together, each call's messages in a row and in order, in
// the next one, as one round trip. Each call gets the outcome of its own
// messages only, and a call whose ctx ends while it waits returns at once
// without the others noticing (once sent, a pipeline runs to Redis's
// reply or the client's read timeout).
func (b *Bus) Publish(ctx context.Context, msgs ...*eventbus.Message) error {
	req := &publishReq{}
	req.vals = req.one[:]
	if len(msgs) != 1 {
		req.vals = make([][]any, len(msgs))
	}
	for i, m := range msgs {
		if err := m.Validate(); err != nil {
			return fmt.Errorf("redisbus: publish: %w", err)
		}
		req.vals[i] = encode(m)
	}
	if len(msgs) == 0 {
		if b.isClosedNow() {
			return fmt.Errorf("redisbus: publish: %w", eventbus.ErrClosed)
		}
		return nil
	}
	if !b.startPublish() {
		return fmt.Errorf("redisbus: publish: %w", eventbus.ErrClosed)
	}
	defer b.pubs.Done()
	b.published.Store(true)
	for attempt := 1; ; attempt++ {
		req.stored, req.err = 0, nil
		if err := b.group.Do(ctx, req); err != nil {
			return fmt.Errorf("redisbus: publish: %w", err) // ctx ended while queued
		}
		err := req.err
		if err == nil {
			return nil
		}
		req.vals = req.vals[req.stored:]
		if errors.Is(err, redis.ErrClosed) {
			// Close gave up waiting and closed the client under the call.
			return fmt.Errorf("redisbus: publish: %w: %w", eventbus.ErrClosed, err)
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
		if ctx.Err() != nil || !transient(err) {
			return fmt.Errorf("redisbus: publish: %w", err)
		}
		d := publishBackoff.Delay(attempt)
		b.cfg.logger.Debug("redisbus: publish failed, retrying", "left", len(req.vals), "attempt", attempt, "in", d, "error", err)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("redisbus: publish: %w (last error: %w)", ctx.Err(), err)
		case <-b.stopping:
			t.Stop()
			return fmt.Errorf("redisbus: publish: %w (last error: %w)", eventbus.ErrClosed, err)
		}
	}
}

// publishBackoff paces the retries of a publish: short, because most
// failures are a reconnect that takes a moment, and with full jitter, so
// that publishers that lost the server together do not retry together.
var publishBackoff = retry.Backoff{Initial: 50 * time.Millisecond, Max: time.Second}

// publishBatch is the group commit's run: the messages of every waiting
// call in one pipeline, call after call. Redis replies to each XADD on its
// own, so a call learns which of its messages are stored: those before
// its first error. A lost connection fails the command it hit and every
// one after it, which the calls retry.
func (b *Bus) publishBatch(ctx context.Context, batch []*publishReq) {
	if len(batch) == 1 && len(batch[0].vals) == 1 {
		// A lone message: a plain command costs less than a pipeline.
		r := batch[0]
		if r.err = b.rdb.XAdd(ctx, &redis.XAddArgs{Stream: b.cfg.stream, Values: r.vals[0]}).Err(); r.err == nil {
			r.stored = 1
		}
		return
	}
	n := 0
	for _, r := range batch {
		n += len(r.vals)
	}
	pipe := b.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, 0, n)
	for _, r := range batch {
		for _, v := range r.vals {
			cmds = append(cmds, pipe.XAdd(ctx, &redis.XAddArgs{Stream: b.cfg.stream, Values: v}))
		}
	}
	_, err := pipe.Exec(ctx)
	for _, r := range batch {
		own := cmds[:len(r.vals)]
		cmds = cmds[len(r.vals):]
		r.stored, r.err = len(own), nil
		if err == nil {
			continue
		}
		// An XADD is stored once its reply, the entry's ID, came back. A
		// failure before any reply (no connection to be had) may leave
		// the commands without an error of their own: Exec's is theirs.
		for i, c := range own {
			if c.Err() != nil || c.Val() == "" {
				r.stored, r.err = i, c.Err()
				if r.err == nil {
					r.err = err
				}
				break
			}
		}
	}
}

// transient reports errors that retrying can fix: anything but an error
// reply of the server, and those error replies whose code (the first word,
// as the protocol defines it) says the server is not ready yet.
func transient(err error) bool {
	if errors.Is(err, redis.ErrClosed) || errors.Is(err, eventbus.ErrClosed) {
		return false
	}
	var re redis.Error
	if !errors.As(err, &re) {
		return true
	}
	code, _, _ := strings.Cut(re.Error(), " ")
	switch code {
	case "LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "BUSY", "CLUSTERDOWN":
		return true
	}
	return false
}

// sleep waits d or until ctx ends, returning ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
