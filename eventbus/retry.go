package eventbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// ErrNoAttemptLeft is the failure of an ExhaustedError for a delivery
// past the policy's last attempt: the broker redelivered the message
// because the last attempt's failure was not settled, and Retry parks it
// without running the handler again.
var ErrNoAttemptLeft = errors.New("eventbus: redelivered after the last attempt, handler not run")

// ExhaustedError is the permanent error Retry returns when a message failed
// its last attempt.
type ExhaustedError struct {
	Attempts int
	Err      error
}

// Error describes the last failure.
func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("eventbus: failed %d attempts: %v", e.Attempts, e.Err)
}

// Unwrap returns the last failure.
func (e *ExhaustedError) Unwrap() error { return e.Err }

// Retry applies p to handler failures, counting deliveries as attempts:
// the broker counts them across redeliveries and restarts, so the policy
// holds even when consumers crash. An error on an attempt that p allows to
// be followed becomes a *RetryError with p's delay for it
// (p.Backoff.Delay(attempt)), which the broker waits before it redelivers
// the message, to any consumer; an error that p does not allow to be
// followed becomes retry.Permanent(*ExhaustedError). Permanent errors pass
// through, and so do errors that carry their own delay, except on the last
// attempt. A delivery past p.MaxAttempts (the last failure was not settled:
// parking failed, an ack was lost) does not run the handler: it fails with
// retry.Permanent(*ExhaustedError) wrapping ErrNoAttemptLeft, so the
// handler never runs more often than the policy allows.
//
// The zero Policy makes a single attempt: every failure is final, so give
// MaxAttempts. p.MaxElapsed, when set, counts from the message's Time (when
// the event occurred), since the broker keeps no time of the first
// delivery: an event too old to be worth a retry is parked instead; a
// message without a Time is bounded by MaxAttempts alone. Retry does not
// validate p: call p.Validate when the policy comes from configuration (a
// policy with no limit redelivers until the handler succeeds).
//
// It is never inlined, so that every Middleware it returns is one function
// that Router recognizes when it checks the order of a chain.
//
//go:noinline
func Retry(p retry.Policy) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			attempt := attemptFrom(ctx)
			if p.Exhausted(attempt) {
				// The last attempt's failure was not settled (its parking
				// failed, its ack was lost, its consumer died): park it
				// without running the handler past the policy.
				return retry.Permanent(&ExhaustedError{Attempts: attempt, Err: ErrNoAttemptLeft})
			}
			err := next(ctx, msg)
			if err == nil || retry.IsPermanent(err) {
				return err
			}
			policy, age := p, time.Duration(0)
			if msg != nil && !msg.Time.IsZero() {
				age = time.Since(msg.Time)
			} else {
				policy.MaxElapsed = 0 // no time to measure it from
			}
			d, ok := policy.Next(attempt, age)
			if !ok {
				return retry.Permanent(&ExhaustedError{Attempts: attempt, Err: err})
			}
			var re *RetryError
			if errors.As(err, &re) {
				return err
			}
			return &RetryError{Err: err, Delay: d}
		}
	}
}
