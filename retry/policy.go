package retry

import (
	"fmt"
	"time"
)

// Policy says how often and for how long an operation is retried: at most
// MaxAttempts attempts in all, none starting later than MaxElapsed after
// the first, with Backoff's waits between them. It is the one retry policy
// of the toolkit: eventbus's Retry middleware, saga's steps and
// compensations and the gateway's routes all take one, and each says what
// it counts as an attempt and from when it measures the elapsed time.
//
// A Policy is a value with no state, like [Backoff]: the caller counts its
// attempts and asks [Policy.Next] after each failure. Each field's doc says
// what its zero value means; the zero Policy makes a single attempt, so a
// zero field in a larger configuration means "do not retry".
type Policy struct {
	// MaxAttempts is how many times the operation runs in all, the first
	// attempt included: 3 means up to two retries. Zero means 1, no retry.
	// A negative value means no limit on attempts: then MaxElapsed, or the
	// caller's context, must end the retries.
	MaxAttempts int
	// MaxElapsed bounds the time from the start of the first attempt: a
	// retry whose wait would end later is not made. Zero means no bound
	// other than MaxAttempts.
	MaxElapsed time.Duration
	// Backoff paces the retries: the wait after the n-th failed attempt is
	// Backoff.Delay(n). Its zero value is 100ms doubling to 10s, with full
	// jitter.
	Backoff Backoff
}

// Validate reports an invalid policy with an error wrapping
// [ErrInvalidOption]: a negative MaxElapsed, a negative MaxAttempts with no
// MaxElapsed (it would retry for ever), or a Backoff that
// [Backoff.Validate] rejects. Packages that take a Policy call it when
// they are configured; [Policy.Next] itself never fails.
func (p Policy) Validate() error {
	switch {
	case p.MaxElapsed < 0:
		return fmt.Errorf("%w: retry policy max elapsed %v is negative", ErrInvalidOption, p.MaxElapsed)
	case p.MaxAttempts < 0 && p.MaxElapsed == 0:
		return fmt.Errorf("%w: retry policy without a limit of attempts needs a max elapsed", ErrInvalidOption)
	}
	return p.Backoff.Validate()
}

// Retries reports whether the policy allows any retry at all: whether it
// allows more than one attempt.
func (p Policy) Retries() bool { return p.MaxAttempts < 0 || p.MaxAttempts > 1 }

// Exhausted reports whether attempt, counting from 1, is past the
// policy's last one: a caller that finds its next attempt exhausted must
// not make it.
func (p Policy) Exhausted(attempt int) bool {
	return p.MaxAttempts >= 0 && attempt > max(p.MaxAttempts, 1)
}

// Next reports whether the attempt after failed attempt number failed
// (counting from 1) may be made, elapsed after the first attempt started,
// and how long to wait before it. It returns false when the attempts are
// spent, or when the wait would end past MaxElapsed. The wait is
// randomized by Backoff's Jitter, so call Next once per failure. It is
// safe for concurrent use and does not allocate.
func (p Policy) Next(failed int, elapsed time.Duration) (time.Duration, bool) {
	if p.Exhausted(max(failed, 1) + 1) {
		return 0, false
	}
	d := p.Backoff.Delay(failed)
	if p.MaxElapsed > 0 && elapsed+d > p.MaxElapsed {
		return 0, false
	}
	return d, true
}
