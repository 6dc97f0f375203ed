package saga

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// compensate undoes every step that may have taken effect (those that
// completed, and a failed step in doubt), newest first, each retried per
// its policy. A compensation that fails for good ends the saga in
// StatusCompensationFailed, loudly: an Error log, EventCompensationFailed
// and a *CompensationFailedError; by default at once, or after the earlier
// steps were compensated under WithContinueOnCompensationFailure.
func (r *run[S]) compensate(ctx context.Context, cause error) error {
	if r.rec.Status != StatusCompensating {
		r.rec.Status = StatusCompensating
		r.rec.Error = cause.Error()
		r.emit(ctx, Event{Kind: EventCompensating, Err: cause})
		// Steps still running here were interrupted by a crash (siblings in
		// a parallel group of an in-doubt step): they may have taken effect,
		// so they are compensated first.
		for i := range r.rec.Steps {
			switch sr := &r.rec.Steps[i]; sr.Status {
			case StepRunning:
				r.seq++
				sr.Status, sr.Seq = StepCompensating, r.seq
			case StepWaiting: // its Execute ran, so it has a Seq
				sr.Status, sr.Failed, sr.EndedAt = StepFailed, true, time.Now()
			}
		}
	}
	var (
		failed *CompensationFailedError
		first  int // the step of failed
	)
	for {
		i := r.nextToCompensate()
		if i < 0 {
			break
		}
		sr := &r.rec.Steps[i]
		if r.def.steps[i].Compensate == nil {
			sr.Status = StepCompensated
			continue
		}
		var err error
		if r.def.steps[i].Local {
			err = r.compensateLocal(ctx, i)
		} else {
			err = r.compensateStep(ctx, i)
		}
		if err == nil {
			continue
		}
		if _, abort := err.(*abortError); abort {
			return err
		}
		sr.Status, sr.Error = StepCompensationFailed, err.Error()
		r.o.log.Error("saga: compensation failed; the saga needs a human (Orchestrator.Failed lists it)",
			"saga", r.def.name, "id", r.rec.ID, "step", sr.Name, "err", err, "cause", cause)
		if failed == nil {
			first = i
			failed = &CompensationFailedError{SagaID: r.rec.ID, Saga: r.def.name, Step: sr.Name, Err: err, Cause: cause}
		}
		if !r.o.continueCompensating {
			break
		}
	}
	if failed == nil {
		// A compensation that failed before a crash, under
		// WithContinueOnCompensationFailure, still fails the saga.
		for i, sr := range r.rec.Steps {
			if sr.Status == StepCompensationFailed {
				first = i
				failed = &CompensationFailedError{SagaID: r.rec.ID, Saga: r.def.name, Step: sr.Name, Err: errors.New(sr.Error), Cause: cause}
				break
			}
		}
	}
	if failed != nil {
		r.rec.Status = StatusCompensationFailed
		if err := r.persist(ctx); err != nil {
			return err
		}
		r.emit(ctx, Event{Kind: EventCompensationFailed, Step: failed.Step, Attempt: r.rec.Steps[first].CompensateAttempts, Err: failed})
		return failed
	}
	r.rec.Status = StatusCompensated
	// A saga that never wrote its record failed in its first step, a Local
	// one whose transaction rolled back: nothing of it happened, so nothing
	// records it, and its ID is free for a retry of the same request. A
	// record would hold the ID for ever, and the retry would be refused as
	// a duplicate of a saga that has no effect.
	if r.created {
		if err := r.persist(ctx); err != nil {
			return err
		}
	}
	r.emit(ctx, Event{Kind: EventCompensated, Err: cause})
	return &CompensatedError{SagaID: r.rec.ID, Saga: r.def.name, Step: r.failedStep(), Err: cause}
}

// compensateStep runs step i's Compensate until it succeeds or its policy
// stops, persisting each attempt's start before it.
func (r *run[S]) compensateStep(ctx context.Context, i int) error {
	sr := &r.rec.Steps[i]
	tries := tries{start: time.Now()}
	sr.CompensateStartedAt, sr.CompensateEndedAt = tries.start, time.Time{}
	for {
		sr.Status = StepCompensating
		sr.CompensateAttempts++
		if err := r.begin(ctx); err != nil {
			return err
		}
		err := r.attempt(ctx, i, true, sr.CompensateAttempts)
		var next error
		if err != nil {
			next = r.retryCompensation(ctx, i, err, &tries) // waits while the lease is renewed
		}
		r.end()
		if err == nil {
			sr.Status, sr.Error, sr.CompensateEndedAt = StepCompensated, "", time.Now()
			r.dirty = true
			return nil
		}
		sr.Error = err.Error()
		if next != nil {
			if _, abort := next.(*abortError); !abort {
				sr.CompensateEndedAt = time.Now()
			}
			return next
		}
	}
}

// retryCompensation decides what follows a failed compensation attempt:
// nil after waiting for the next attempt, err when the compensation failed
// for good, or an *abortError.
func (r *run[S]) retryCompensation(ctx context.Context, i int, err error, tries *tries) error {
	if ctx.Err() != nil {
		return &abortError{err: fmt.Errorf("saga: %s %s: %w", r.def.name, r.rec.ID, ctx.Err())}
	}
	if retry.IsPermanent(err) {
		return err
	}
	policy := r.o.compensationRetry
	if p := r.def.steps[i].CompensateRetry; p != nil {
		policy = *p
	}
	d, ok := tries.next(policy)
	if !ok {
		return err
	}
	return r.wait(ctx, d)
}

// nextToCompensate returns the step that completed last among those still
// to compensate, or -1. A failed step with a Seq failed in doubt: it is
// compensated like a completed one.
func (r *run[S]) nextToCompensate() int {
	best, bestSeq := -1, 0
	for i, sr := range r.rec.Steps {
		todo := sr.Status == StepDone || sr.Status == StepCompensating || sr.Status == StepFailed
		if todo && sr.Seq > bestSeq {
			best, bestSeq = i, sr.Seq
		}
	}
	return best
}

// failedStep returns the name of the step whose failure made the saga
// compensate, or "" (the deadline passed between steps).
func (r *run[S]) failedStep() string {
	for _, sr := range r.rec.Steps {
		if sr.Failed || sr.Status == StepFailed {
			return sr.Name
		}
	}
	return ""
}
