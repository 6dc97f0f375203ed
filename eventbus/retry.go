package eventbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/go-microkit/microkit/retry"
)

// RetryPolicy says how often and how late a failed message is redelivered.
// Attempts are counted by the broker across redeliveries and restarts, so a
// policy holds even when consumers crash.
type RetryPolicy struct {
	// MaxAttempts is how many deliveries a message gets before it fails
	// permanently (and DeadLetter parks it). Zero means 5.
	MaxAttempts int
	// InitialInterval is the delay before the second delivery. Zero means
	// 500ms.
	InitialInterval time.Duration
	// Multiplier grows the delay after each attempt. Zero means 1.5.
	Multiplier float64
	// MaxInterval caps the delay. Zero means 60s.
	MaxInterval time.Duration
	// RandomizationFactor spreads delays by ± that fraction. Zero means 0.5;
	// a negative value means no randomization.
	RandomizationFactor float64
	// NewBackOff, if set, replaces the exponential schedule above: the delay
	// after attempt n is its n-th NextBackOff. Returning backoff.Stop fails
	// the message permanently.
	NewBackOff func() backoff.BackOff
}

func (p RetryPolicy) maxAttempts() int {
	if p.MaxAttempts <= 0 {
		return 5
	}
	return p.MaxAttempts
}

func (p RetryPolicy) newBackOff() backoff.BackOff {
	if p.NewBackOff != nil {
		return p.NewBackOff()
	}
	b := backoff.NewExponentialBackOff()
	b.MaxElapsedTime = 0 // attempts, not elapsed time, end the retries
	if p.InitialInterval > 0 {
		b.InitialInterval = p.InitialInterval
	}
	if p.Multiplier > 0 {
		b.Multiplier = p.Multiplier
	}
	if p.MaxInterval > 0 {
		b.MaxInterval = p.MaxInterval
	}
	switch {
	case p.RandomizationFactor < 0:
		b.RandomizationFactor = 0
	case p.RandomizationFactor > 0:
		b.RandomizationFactor = p.RandomizationFactor
	}
	b.Reset()
	return b
}

// Delay returns the delay before redelivering a message whose attempt-th
// delivery failed, and false when no attempt is left.
func (p RetryPolicy) Delay(attempt int) (time.Duration, bool) {
	if attempt >= p.maxAttempts() {
		return 0, false
	}
	b := p.newBackOff()
	d := time.Duration(0)
	for range max(attempt, 1) {
		d = b.NextBackOff()
		if d == backoff.Stop {
			return 0, false
		}
	}
	return d, true
}

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

// Retry applies p to handler failures: an error on an attempt below
// MaxAttempts becomes a *RetryError with the policy's delay, so that the
// broker redelivers the message later; the last attempt's error becomes
// retry.Permanent(*ExhaustedError). Permanent errors pass through, and so do
// errors that carry their own delay, except on the last attempt. A
// delivery past MaxAttempts (the last failure was not settled: parking
// failed, an ack was lost) does not run the handler: it fails with
// retry.Permanent(*ExhaustedError) wrapping ErrNoAttemptLeft, so the handler
// never runs more often than the policy allows.
//
// It is never inlined, so that every Middleware it returns is one function
// that Router recognizes when it checks the order of a chain.
//
//go:noinline
func Retry(p RetryPolicy) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			attempt := attemptFrom(ctx)
			if attempt > p.maxAttempts() {
				// The last attempt's failure was not settled (its parking
				// failed, its ack was lost, its consumer died): park it
				// without running the handler past the policy.
				return retry.Permanent(&ExhaustedError{Attempts: attempt, Err: ErrNoAttemptLeft})
			}
			err := next(ctx, msg)
			if err == nil || retry.IsPermanent(err) {
				return err
			}
			d, ok := p.Delay(attempt)
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
