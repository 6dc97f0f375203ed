package breaker

import (
	"errors"
	"strconv"
	"time"
)

var (
	// ErrOpen is matched (errors.Is) by the error a call gets when the
	// breaker is open or forced open.
	ErrOpen = errors.New("breaker: open")
	// ErrTooManyProbes is matched by the error a call gets when the breaker
	// is half-open and all its probe slots are taken.
	ErrTooManyProbes = errors.New("breaker: too many half-open probes")
	// ErrInvalidOption is wrapped by the error New returns for an invalid
	// option.
	ErrInvalidOption = errors.New("breaker: invalid option")
	// ErrNotSent is matched by errors of calls that never reached the
	// dependency, so that [DefaultClassifier] ignores them: they prove
	// nothing about its health. Packages whose errors mean "not sent"
	// (discovery's ErrNoInstances) match it; wrap your own with
	// fmt.Errorf("...: %w: %w", err, breaker.ErrNotSent).
	ErrNotSent = errors.New("breaker: call not sent")
)

// OpenError is the error returned for a call the breaker rejected. It
// matches [ErrOpen] or [ErrTooManyProbes] with errors.Is.
type OpenError struct {
	// Name is the breaker's name.
	Name string
	// State is the state that rejected the call: Open, ForcedOpen or
	// HalfOpen.
	State State
	// RetryAt is when the breaker may let calls through again: the end of
	// the open duration. It is zero when unknown (forced open, or half-open
	// with its probes in flight).
	RetryAt time.Time
}

// Error describes the rejection; RetryAt is left out so that the message
// stays the same for every rejected call, which keeps logs groupable.
func (e *OpenError) Error() string {
	msg := "breaker: " + strconv.Quote(e.Name) + " is " + e.State.String()
	if e.State == HalfOpen {
		msg += ": too many probes"
	}
	return msg
}

// Is reports whether target is ErrOpen (open or forced open) or
// ErrTooManyProbes (half-open).
func (e *OpenError) Is(target error) bool {
	if e.State == HalfOpen {
		return target == ErrTooManyProbes
	}
	return target == ErrOpen
}

// RetryAfter returns how long after now the breaker may let calls through,
// or 0 when unknown or already passed.
func (e *OpenError) RetryAfter(now time.Time) time.Duration {
	if e.RetryAt.IsZero() || !e.RetryAt.After(now) {
		return 0
	}
	return e.RetryAt.Sub(now)
}
