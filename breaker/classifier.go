package breaker

import (
	"context"
	"errors"
)

// Classifier says how a call's error counts: [Success], [Failure] or
// [Ignored]. It is called only for non-nil errors; a nil error is always a
// success.
type Classifier func(err error) Outcome

// DefaultClassifier counts every error as a failure except those that
// prove nothing about the dependency's health, which are ignored:
// context.Canceled (a caller giving up) and errors matching [ErrNotSent]
// (a call that never reached the dependency, such as discovery's "no
// instance to call"). context.DeadlineExceeded counts, since a dependency
// too slow to answer in the time it was given is unhealthy; a call whose
// ctx had already ended before it started is ignored by Execute, Do and
// the Transport before the classifier is asked.
func DefaultClassifier(err error) Outcome {
	if errors.Is(err, context.Canceled) || errors.Is(err, ErrNotSent) {
		return Ignored
	}
	return Failure
}

// IgnoreErrors returns a classifier that ignores errors matching any of
// errs (errors.Is) and otherwise defers to [DefaultClassifier]. Use it for
// errors that are the caller's fault, such as validation errors.
func IgnoreErrors(errs ...error) Classifier {
	return func(err error) Outcome {
		for _, e := range errs {
			if errors.Is(err, e) {
				return Ignored
			}
		}
		return DefaultClassifier(err)
	}
}
