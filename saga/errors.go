package saga

import (
	"errors"
	"fmt"
)

// Sentinel errors of the saga package. Errors returned by Run and Recover
// wrap them; branch with errors.Is.
var (
	// ErrInvalidOption wraps every error of an invalid option or definition.
	ErrInvalidOption = errors.New("saga: invalid option")
	// ErrCompensated means a step failed (or the deadline passed) and every
	// completed step was compensated. See [CompensatedError].
	ErrCompensated = errors.New("saga: compensated")
	// ErrCompensationFailed means a compensation exhausted its retries: the
	// saga is stuck half-done and a human must look. See
	// [CompensationFailedError], [Orchestrator.Failed],
	// [Orchestrator.RetryCompensation] and [Orchestrator.Resolve].
	ErrCompensationFailed = errors.New("saga: compensation failed")
	// ErrDeadlineExceeded is the cause of a compensation started because the
	// saga's deadline passed.
	ErrDeadlineExceeded = errors.New("saga: deadline exceeded")
	// ErrInDoubt is the cause of a compensation started by Recover for a step
	// whose policy is RecoverCompensate.
	ErrInDoubt = errors.New("saga: step interrupted and in doubt")
	// ErrLostOwnership means another orchestrator took the saga over (its
	// lease lapsed); this one stopped driving it.
	ErrLostOwnership = errors.New("saga: lost ownership")
	// ErrUnknownSaga means the orchestrator has no registered definition
	// for a saga: Run of a saga that was not given to
	// Orchestrator.Register, or a record that Recover or RetryCompensation
	// found whose name has no definition (or whose steps do not match it).
	ErrUnknownSaga = errors.New("saga: unknown saga")
	// ErrWrongStatus means the saga is not in the status the call needs.
	ErrWrongStatus = errors.New("saga: wrong status")
	// ErrClosed means the orchestrator was closed.
	ErrClosed = errors.New("saga: orchestrator closed")
)

// notAppliedError marks an error that proves a step had no effect.
type notAppliedError struct{ err error }

func (e *notAppliedError) Error() string { return e.err.Error() }
func (e *notAppliedError) Unwrap() error { return e.err }

// NotApplied wraps err, returned by a step's Execute, to say that the
// participant answered definitively that this step has no effect under its
// idempotency key: a declined card, an item out of stock. The step is not
// retried and, unlike any other failure, not compensated. NotApplied(nil)
// is nil.
//
// Use it only for the participant's own answer about this key, never for a
// timeout, a transport error or a 5xx: those prove nothing (the request may
// have been applied and the reply lost), so the step's compensation runs.
// A step that failed in doubt on any earlier attempt, or whose attempt was
// interrupted by a crash, is compensated even when a later attempt returns
// NotApplied.
func NotApplied(err error) error {
	if err == nil {
		return nil
	}
	return &notAppliedError{err: err}
}

// IsNotApplied reports whether err was wrapped by [NotApplied].
func IsNotApplied(err error) bool {
	var n *notAppliedError
	return errors.As(err, &n)
}

// CompensatedError is returned by Run when the saga did not complete but was
// rolled back: Step failed with Err (Step is empty when the deadline passed
// between steps), and every step that may have taken effect was
// compensated: those that completed and, unless its error was
// [NotApplied], Step itself.
type CompensatedError struct {
	// SagaID and Saga identify the instance and its definition.
	SagaID, Saga string
	// Step is the step whose failure started compensation, if any.
	Step string
	// Err is the cause.
	Err error
}

// Error describes the saga, the failed step and the cause.
func (e *CompensatedError) Error() string {
	if e.Step == "" {
		return fmt.Sprintf("saga: %s %s compensated: %v", e.Saga, e.SagaID, e.Err)
	}
	return fmt.Sprintf("saga: %s %s compensated after step %s failed: %v", e.Saga, e.SagaID, e.Step, e.Err)
}

// Unwrap returns the cause.
func (e *CompensatedError) Unwrap() error { return e.Err }

// Is matches ErrCompensated.
func (e *CompensatedError) Is(target error) bool { return target == ErrCompensated }

// CompensationFailedError is returned by Run when a compensation failed for
// good: the saga is in StatusCompensationFailed and needs a human. With
// [WithContinueOnCompensationFailure], the earlier steps were compensated
// nonetheless and Step is the first compensation that failed; the record's
// steps in StepCompensationFailed list them all.
type CompensationFailedError struct {
	// SagaID and Saga identify the instance and its definition.
	SagaID, Saga string
	// Step is the step whose compensation failed.
	Step string
	// Err is the compensation's last error.
	Err error
	// Cause is why the saga was compensating.
	Cause error
}

// Error describes the saga, the compensation that failed and the cause.
func (e *CompensationFailedError) Error() string {
	return fmt.Sprintf("saga: %s %s: compensation of step %s failed: %v (compensating because: %v)", e.Saga, e.SagaID, e.Step, e.Err, e.Cause)
}

// Unwrap returns the compensation's error and the cause.
func (e *CompensationFailedError) Unwrap() []error { return []error{e.Err, e.Cause} }

// Is matches ErrCompensationFailed.
func (e *CompensationFailedError) Is(target error) bool { return target == ErrCompensationFailed }
