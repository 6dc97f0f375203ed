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

// Publish appends msgs to the stream (XADD), all in one pipeline: one round
// trip for the batch. Redis executes the commands of a connection in
// order, so the messages are stored in their order. It returns once Redis
// replied to each; how durable that is depends on the server's persistence
// (see the package documentation). Through disconnects and server
// restarts it sends again, in order, every message from the first one
// that got no reply, until ctx ends: a message whose reply was lost is
// stored twice, and consumers deduplicate on Message.ID.
func (b *Bus) Publish(ctx context.Context, msgs ...*eventbus.Message) error {
	vals := make([][]any, len(msgs))
	for i, m := range msgs {
		if err := m.Validate(); err != nil {
			return fmt.Errorf("redisbus: publish: %w", err)
		}
		vals[i] = encode(m)
	}
	if b.isClosedNow() {
		return fmt.Errorf("redisbus: publish: %w", eventbus.ErrClosed)
	}
	if len(msgs) == 0 {
		return nil
	}
	b.published.Store(true)
	for attempt := 1; ; attempt++ {
		sent, err := b.publishAttempt(ctx, vals)
		if err == nil {
			return nil
		}
		vals = vals[sent:]
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
		if ctx.Err() != nil || !transient(err) {
			return fmt.Errorf("redisbus: publish: %w", err)
		}
		d := publishBackoff.Delay(attempt)
		b.cfg.logger.Debug("redisbus: publish failed, retrying", "left", len(vals), "attempt", attempt, "in", d, "error", err)
		if serr := sleep(ctx, d); serr != nil {
			return fmt.Errorf("redisbus: publish: %w (last error: %w)", serr, err)
		}
	}
}

// publishBackoff paces the retries of a publish: short, because most
// failures are a reconnect that takes a moment, and with full jitter, so
// that publishers that lost the server together do not retry together.
var publishBackoff = retry.Backoff{Initial: 50 * time.Millisecond, Max: time.Second}

// publishAttempt sends vals in one pipeline and returns how many of them,
// from the first, are known to be stored.
func (b *Bus) publishAttempt(ctx context.Context, vals [][]any) (int, error) {
	if len(vals) == 1 {
		return 0, b.rdb.XAdd(ctx, &redis.XAddArgs{Stream: b.cfg.stream, Values: vals[0]}).Err()
	}
	pipe := b.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(vals))
	for i, v := range vals {
		cmds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: b.cfg.stream, Values: v})
	}
	_, err := pipe.Exec(ctx)
	if err == nil {
		return len(vals), nil
	}
	for i, c := range cmds {
		if c.Err() != nil {
			return i, c.Err()
		}
	}
	return 0, err
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
