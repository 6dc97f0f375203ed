package eventbus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// BatchHandler handles a batch of messages in one call, for work that costs
// less done for many messages at once than for each alone: a multi-row
// insert, one request to a bulk API. It returns nil when every message was
// handled, a *BatchError that names the messages that failed (by their
// index in msgs) when some did, or any other error when all of them
// failed. Each message is then settled alone, by FateOf of its own error,
// exactly as if a Handler had returned it: the failed ones are
// redelivered, or dead-lettered when their error is permanent, and the
// rest are acknowledged.
//
// ctx is cancelled when the first of the messages' contexts ends (the
// earliest Timeout), and carries a BatchInfo whose Context(i) is message
// i's own context (its DeliveryInfo, correlation id and trace span).
type BatchHandler func(ctx context.Context, msgs []*Message) error

// BatchError is a BatchHandler's report of the messages that failed; the
// others of the batch succeeded. A handler fills it with Fail and returns
// Err, which is nil when nothing failed.
type BatchError struct {
	// Failed maps the index of each failed message in the batch to its
	// error. A nil error, or an index outside the batch, counts for
	// nothing.
	Failed map[int]error
}

// Fail records err as the failure of the message at index i of the batch;
// a later Fail of the same index replaces it.
func (e *BatchError) Fail(i int, err error) {
	if e.Failed == nil {
		e.Failed = make(map[int]error)
	}
	e.Failed[i] = err
}

// Err returns e, or nil when no message failed, so that a handler can end
// with `return failed.Err()` without returning a nil *BatchError in a
// non-nil error.
func (e *BatchError) Err() error {
	for _, err := range e.Failed {
		if err != nil {
			return e
		}
	}
	return nil
}

// Error lists the failed indices and their errors.
func (e *BatchError) Error() string {
	var b strings.Builder
	b.WriteString("eventbus: batch failed:")
	for _, i := range slices.Sorted(maps.Keys(e.Failed)) {
		if e.Failed[i] != nil {
			fmt.Fprintf(&b, " [%d] %v;", i, e.Failed[i])
		}
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Unwrap returns the failures, so that errors.Is and errors.As see them.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, 0, len(e.Failed))
	for _, i := range slices.Sorted(maps.Keys(e.Failed)) {
		if e.Failed[i] != nil {
			errs = append(errs, e.Failed[i])
		}
	}
	return errs
}

// batchOutcome spreads a BatchHandler's result over its n messages: the
// error of each, nil for those that succeeded.
func batchOutcome(err error, n int) []error {
	out := make([]error, n)
	if err == nil {
		return out
	}
	var be *BatchError
	if !errors.As(err, &be) {
		for i := range out {
			out[i] = err
		}
		return out
	}
	for i, e := range be.Failed {
		if i >= 0 && i < n {
			out[i] = e
		}
	}
	return out
}

// BatchInfo describes the batch a BatchHandler runs for; the Router puts it
// in the handler's context, read with BatchFromContext.
type BatchInfo struct {
	// Group is the router's consumer group.
	Group string
	// Pattern is the pattern the handler was registered for.
	Pattern string
	// Handler is the handler's name (its pattern unless named).
	Handler string

	contexts []context.Context
}

// Len returns the number of messages in the batch.
func (b *BatchInfo) Len() int { return len(b.contexts) }

// Context returns the context that message i's middleware chain handed
// to the batch: its DeliveryInfo, correlation id (Correlate), trace span
// and deadline. Use it for what is done for message i alone, such as
// publishing the events it causes through a CorrelatedPublisher.
func (b *BatchInfo) Context(i int) context.Context { return b.contexts[i] }

type batchKey struct{}

// BatchFromContext returns the batch a BatchHandler runs for, if any.
func BatchFromContext(ctx context.Context) (*BatchInfo, bool) {
	b, ok := ctx.Value(batchKey{}).(*BatchInfo)
	return b, ok
}

// The batches of HandleBatch when its options do not say.
const (
	// DefaultBatchSize is how many messages a batch holds at most.
	DefaultBatchSize = 100
	// DefaultBatchWait is how long a batch waits for more messages after
	// its first.
	DefaultBatchWait = 20 * time.Millisecond
)

// HandlerBatchSize sets how many messages a batch handler receives at
// most (default DefaultBatchSize). n must be positive. Handle refuses it.
func HandlerBatchSize(n int) HandleOption {
	return func(c *routeConfig) error {
		if n <= 0 {
			return fmt.Errorf("%w: batch size %d must be positive", ErrInvalidOption, n)
		}
		c.batchSize = n
		return nil
	}
}

// HandlerBatchWait sets how long a batch waits, after its first message,
// for more before it goes to the handler with what it holds (default
// DefaultBatchWait). Zero takes only what the subscription already holds;
// d must not be negative. A full batch goes at once: the wait bounds the
// latency a quiet stream adds, not the batch. The first message waits
// unacknowledged meanwhile: keep the wait and the batch's handling below
// the adapter's ack wait, as with Timeout. Handle refuses it.
func HandlerBatchWait(d time.Duration) HandleOption {
	return func(c *routeConfig) error {
		if d < 0 {
			return fmt.Errorf("%w: batch wait %v must not be negative", ErrInvalidOption, d)
		}
		c.batchWait, c.batchWaitSet = d, true
		return nil
	}
}

// HandleBatch registers h for the messages whose type matches pattern,
// handed over in batches: each worker (HandlerConcurrency) fetches up to
// HandlerBatchSize messages, waiting at most HandlerBatchWait after the
// first, through the subscription's NextBatch where the adapter has one
// (see BatchSubscription) and FetchBatch's gathering otherwise. Unless
// HandlerPrefetch says otherwise, it asks the adapter for a prefetch of
// two batches per worker, so that a batch can fill and the broker sends
// the next while one is handled.
//
// Middleware applies per message, as for Handle: each message runs
// through the router's and the handler's chain on its own, and the
// chains meet at the batch, which holds every message whose chain called
// its next handler; each chain then returns that message's error from the
// batch. So Retry and DeadLetter decide each message's fate alone,
// Correlate, eventbustrace and eventbusmetrics see each message, a
// middleware that returns without calling next (a dedupe) keeps its
// message out of the batch, and a middleware that calls next a second
// time runs its message alone, as a batch of one. Timeout bounds the
// batch by the earliest of its messages' deadlines. A panic in h fails
// every message of the batch with a *PanicError, as Recover does for a
// Handler, and the process goes on. Each pattern may be registered once
// per router, by Handle or HandleBatch.
func (r *Router) HandleBatch(pattern string, h BatchHandler, opts ...HandleOption) error {
	if h == nil {
		return fmt.Errorf("eventbus: handle batch %s: %w: nil handler", pattern, ErrInvalidOption)
	}
	rt := &route{pattern: pattern, batch: h}
	rt.cfg = routeConfig{name: pattern, batchSize: DefaultBatchSize, batchWait: DefaultBatchWait}
	if err := r.register(rt, opts); err != nil {
		return fmt.Errorf("eventbus: handle batch %s: %w", pattern, err)
	}
	return nil
}

// OnBatch registers a typed batch handler: each message's JSON data is
// decoded into a T before fn runs, and fn receives the events of the
// messages that decoded, in order; the indices of a *BatchError it returns
// are indices in events. A message that does not decode is a poison
// message: it fails permanently and is dead-lettered, and fn does not run
// when no message decoded. Message i's own context is BatchFromContext's
// Context(i) for the batch of messages, not of events: use
// DeliveryFromContext on it to tell which message an event came from.
func OnBatch[T any](r *Router, pattern string, fn func(ctx context.Context, events []T) error, opts ...HandleOption) error {
	if fn == nil {
		return fmt.Errorf("eventbus: on batch %s: %w: nil handler", pattern, ErrInvalidOption)
	}
	return r.HandleBatch(pattern, func(ctx context.Context, msgs []*Message) error {
		failed := &BatchError{}
		events := make([]T, 0, len(msgs))
		index := make([]int, 0, len(msgs)) // events[j] came from msgs[index[j]]
		for i, msg := range msgs {
			event, err := Decode[T](msg)
			if err != nil {
				failed.Fail(i, retry.Permanent(err))
				continue
			}
			events = append(events, event)
			index = append(index, i)
		}
		if len(events) > 0 {
			for j, err := range batchOutcome(fn(ctx, events), len(events)) {
				if err != nil {
					failed.Fail(index[j], err)
				}
			}
		}
		return failed.Err()
	}, opts...)
}
