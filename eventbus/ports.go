package eventbus

import (
	"context"
	"fmt"
	"time"
)

// Publisher publishes messages to a broker. Implementations are safe for
// concurrent use.
type Publisher interface {
	// Publish returns once the broker has durably accepted every message,
	// or with an error if it could not confirm some of them (which may still
	// have been stored: consumers deduplicate on Message.ID). Messages must
	// pass Message.Validate.
	Publish(ctx context.Context, msgs ...*Message) error
	// Close releases the publisher and what it holds (connections,
	// goroutines), waiting for that until ctx ends; then it gives up and
	// returns ctx's error, the publisher closed either way. Publishes in
	// progress may fail with ErrClosed. It is idempotent and safe to call
	// concurrently.
	Close(ctx context.Context) error
}

// Subscriber opens subscriptions on a broker. Implementations are safe for
// concurrent use.
type Subscriber interface {
	// Subscribe starts receiving the messages whose type matches pattern on
	// behalf of consumer group group. A group is identified by its name
	// together with the pattern: subscriptions with the same group and
	// pattern, in this process or another, share (compete for) the
	// messages; every other group receives its own copy of each. A group
	// is durable: messages published while none of its instances runs are
	// kept for it once it has subscribed once.
	Subscribe(ctx context.Context, group, pattern string, opts ...SubscribeOption) (Subscription, error)
	// Close closes every subscription and releases the subscriber.
	// Deliveries not yet acknowledged are redelivered, to another instance
	// of the group if one runs. It waits for the subscriptions and the
	// connection to close until ctx ends, then gives up and returns ctx's
	// error. It is idempotent and safe to call concurrently.
	Close(ctx context.Context) error
}

// Subscription is one consumer's stream of deliveries. Next is safe for
// concurrent use, so several workers may pull from one subscription.
type Subscription interface {
	// Next blocks until a delivery is available, ctx is done (it returns
	// ctx.Err()) or the subscription is closed (it returns ErrClosed).
	Next(ctx context.Context) (Delivery, error)
	// Close stops fetching. Deliveries not yet acknowledged are redelivered.
	// It blocks only briefly (an adapter bounds its wait for the broker to
	// a few seconds), and the Subscriber's Close closes it too. It is
	// idempotent.
	Close() error
}

// BatchSubscription is a Subscription that can hand over several
// deliveries in one call, which an adapter implements when its broker
// fetches in batches (a JetStream pull of n messages, a RabbitMQ channel
// drained up to its prefetch) or when it can take many messages under one
// lock. It is optional: the Router, which asks for batches for the
// handlers registered with HandleBatch, falls back to FetchBatch's
// gathering from Next for a Subscription that does not implement it.
type BatchSubscription interface {
	Subscription
	// NextBatch blocks until a delivery is available, then returns it
	// with those that arrive within wait after it, up to max in all (max
	// below 1 counts as 1). It returns as soon as it holds max; a wait of
	// zero or less returns the first delivery with those the adapter
	// already holds, without waiting for more.
	//
	// Its errors are Next's, and it returns either at least one delivery
	// and a nil error or no delivery and an error: ctx.Err() when ctx is
	// done before the first delivery, ErrClosed when the subscription is
	// closed. When ctx ends or the subscription closes after the first
	// delivery, it returns what it gathered at once, and the next call
	// reports the error. Each delivery returned is the caller's to settle,
	// as one from Next: none of them is acknowledged or held back. It is
	// safe for concurrent use with Next and with itself.
	NextBatch(ctx context.Context, max int, wait time.Duration) ([]Delivery, error)
}

// Delivery is one delivery of a message to a consumer. Exactly one of Ack,
// Nack or Term settles it; later calls return ErrStaleDelivery.
type Delivery interface {
	// Message returns the delivered message. The consumer owns it.
	Message() *Message
	// Attempt is the 1-based delivery count as the broker counts it, across
	// redeliveries and consumer restarts.
	Attempt() int
	// Ack tells the broker that the message was handled.
	Ack(ctx context.Context) error
	// Nack asks the broker to redeliver the message after delay (at once if
	// delay is zero), to any instance of the group.
	Nack(ctx context.Context, delay time.Duration) error
	// Term tells the broker never to redeliver the message: it was
	// dead-lettered or dropped on purpose.
	Term(ctx context.Context) error
}

// SubscribeOption tunes one subscription.
type SubscribeOption func(*SubscribeSettings)

// SubscribeSettings is what SubscribeOptions set; adapters read it through
// NewSubscribeSettings.
type SubscribeSettings struct {
	// Prefetch bounds how many messages an adapter may buffer ahead of
	// Next. Zero means the adapter's default; WithPrefetch never sets it
	// to zero.
	Prefetch int

	prefetchSet bool // WithPrefetch was given, whatever its value
}

// WithPrefetch bounds how many messages the adapter fetches ahead of Next.
// A small prefetch spreads work evenly across instances of a group; a large
// one raises throughput. n must be positive. Prefetch is not handler
// concurrency: see eventbus.WithConcurrency.
func WithPrefetch(n int) SubscribeOption {
	return func(s *SubscribeSettings) { s.Prefetch, s.prefetchSet = n, true }
}

// NewSubscribeSettings applies opts. It returns an error wrapping
// ErrInvalidOption when one of them is invalid.
func NewSubscribeSettings(opts ...SubscribeOption) (SubscribeSettings, error) {
	var s SubscribeSettings
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		o(&s)
	}
	if s.prefetchSet && s.Prefetch <= 0 {
		return s, fmt.Errorf("%w: prefetch %d must be positive", ErrInvalidOption, s.Prefetch)
	}
	return s, nil
}

// ValidateGroup reports whether group is a usable consumer group name:
// non-empty tokens of letters, digits, '-' and '_', at most 64 bytes.
func ValidateGroup(group string) error {
	if group == "" || len(group) > 64 {
		return fmt.Errorf("%w: group %q must have 1 to 64 bytes", ErrInvalidOption, group)
	}
	for i := 0; i < len(group); i++ {
		c := group[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: group %q: invalid character %q", ErrInvalidOption, group, c)
		}
	}
	return nil
}
