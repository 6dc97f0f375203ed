package inbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// Status is the outcome of Store.Begin.
type Status int

// The outcomes of Store.Begin.
const (
	// Claimed: the caller processes the message and then calls Commit or
	// Abort.
	Claimed Status = iota + 1
	// Processed: the message was processed already; skip it.
	Processed
	// InFlight: another delivery of the message is being processed now.
	InFlight
)

// Store records which messages were processed. Implementations are safe
// for concurrent use.
type Store interface {
	// Begin claims key for processing unless it was processed (within the
	// store's TTL) or is claimed by another caller.
	Begin(ctx context.Context, key string) (Status, error)
	// Commit marks a claimed key processed.
	Commit(ctx context.Context, key string) error
	// Abort releases a claim without marking the key processed, so that a
	// redelivery processes the message.
	Abort(ctx context.Context, key string) error
}

// ErrInFlight is wrapped by the error Dedupe returns for a delivery whose
// message is being handled by another delivery at the same time; the
// router redelivers it later, when it will be skipped or (if the other
// failed) handled. Under Retry it counts as a failed attempt: a duplicate
// that finds its message in flight on its last attempt is parked by
// DeadLetter with this reason, never lost, even if the other delivery
// then handles the message.
var ErrInFlight = errors.New("inbox: message in flight")

// DedupeOption configures Dedupe.
type DedupeOption func(*dedupeConfig)

type dedupeConfig struct {
	retryDelay time.Duration
}

// WithInFlightDelay sets after how long a delivery that found its message
// in flight is redelivered. Default 1s; d <= 0 keeps the default.
func WithInFlightDelay(d time.Duration) DedupeOption {
	return func(c *dedupeConfig) {
		if d > 0 {
			c.retryDelay = d
		}
	}
}

// Dedupe runs the next handler at most once per message and handler: its
// key (see Key) is the consumer group and the handler's name from the
// router's DeliveryInfo, and Message.ID, so that two handlers of one
// router that match one message (patterns "order.>" and "order.created")
// each run once. A message already processed by this handler is
// acknowledged without running it; one in flight in another worker is
// redelivered after a delay; a handler that fails (or panics), or whose
// Commit fails, releases its claim, so the redelivery runs it again. A
// message that DeadLetter parked inside Dedupe is not marked processed
// either, so its replay runs the handler.
func Dedupe(store Store, opts ...DedupeOption) eventbus.Middleware {
	cfg := dedupeConfig{retryDelay: time.Second}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		o(&cfg)
	}
	return func(next eventbus.Handler) eventbus.Handler {
		return func(ctx context.Context, msg *eventbus.Message) (err error) {
			key := Key(ctx, msg)
			st, err := store.Begin(ctx, key)
			if err != nil {
				return err
			}
			switch st {
			case Processed:
				return nil
			case InFlight:
				return &eventbus.RetryError{Err: ErrInFlight, Delay: cfg.retryDelay}
			}
			committed := false
			defer func() {
				if !committed {
					// Also on panic: release, then let it propagate.
					_ = store.Abort(context.WithoutCancel(ctx), key)
				}
			}()
			if err := next(ctx, msg); err != nil {
				return err
			}
			if info, ok := eventbus.DeliveryFromContext(ctx); ok && info.DeadLetterReason != "" {
				return nil // parked, not handled: released by the deferred Abort
			}
			// The handler succeeded: its mark must not be lost to the
			// handler's deadline, or the redelivery would run it twice.
			if err := store.Commit(context.WithoutCancel(ctx), key); err != nil {
				// Released by the deferred Abort: the redelivery runs the
				// handler again rather than finding the message in flight
				// for ever.
				return fmt.Errorf("inbox: commit %s: %w", msg.ID, err)
			}
			committed = true
			return nil
		}
	}
}

// Key returns the dedupe key of msg handled with ctx: the consumer group
// and the handler's name of the delivery in ctx (see
// eventbus.DeliveryInfo) and the message ID, separated by NUL bytes. The
// handler's name is its pattern unless eventbus.HandlerName set another,
// and a router keeps names unique, so the key identifies one handler of
// one group. Renaming a handler forgets what it processed.
func Key(ctx context.Context, msg *eventbus.Message) string {
	group, handler := "", ""
	if info, ok := eventbus.DeliveryFromContext(ctx); ok {
		group, handler = info.Group, info.Handler
	}
	return group + "\x00" + handler + "\x00" + msg.ID
}
