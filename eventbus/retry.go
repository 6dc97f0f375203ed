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
// message without a Time is bounded by MaxAttempts alone, or, under a
// policy without a limit of attempts, by the sum of the waits it asked for.
// An invalid p (see retry.Policy.Validate) retries nothing: every delivery
// fails for good with an error wrapping retry.ErrInvalidOption, which a
// DeadLetter parks with the reason, instead of looping a message for ever.
//
// It is never inlined, so that every Middleware it returns is one function
// that Router recognizes when it checks the order of a chain.
//
//go:noinline
func Retry(p retry.Policy) Middleware {
	invalid := p.Validate()
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			if invalid != nil {
				// A policy that cannot say when to stop must not loop a
				// message for ever: every delivery fails for good with
				// the reason, so a DeadLetter parks it and says why.
				return retry.Permanent(fmt.Errorf("eventbus: retry: %w", invalid))
			}
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
			switch {
			case msg != nil && !msg.Time.IsZero():
				age = time.Since(msg.Time)
			case p.MaxAttempts < 0:
				// No time to measure from, and no limit of attempts: the
				// waits the policy asked for so far are a lower bound of
				// the time spent, and they end the retries.
				age = nominalWaits(p.Backoff, attempt, p.MaxElapsed)
			default:
				policy.MaxElapsed = 0 // bounded by MaxAttempts alone
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

// nominalWaits sums b's waits, without jitter, after each of the attempts
// before attempt, stopping once the sum passes limit.
func nominalWaits(b retry.Backoff, attempt int, limit time.Duration) time.Duration {
	b.Jitter = retry.NoJitter
	var sum time.Duration
	for i := 1; i < attempt && sum <= limit; i++ {
		sum += b.Delay(i)
	}
	return sum
}
