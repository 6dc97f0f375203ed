package saga

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RecoverResult counts what a Recover call did.
type RecoverResult struct {
	// Resumed counts the in-flight sagas this orchestrator claimed and drove.
	Resumed int
	// Completed, Compensated and CompensationFailed count how they ended.
	Completed, Compensated, CompensationFailed int
	// Waiting counts those that parked in a waiting step (see [Wait]).
	Waiting int
	// Skipped counts in-flight sagas left alone: another orchestrator holds
	// an unexpired lease on them or claimed them first.
	Skipped int
}

// Recover continues every saga left in flight in the store, as on start-up
// after a crash: it claims each one whose lease lapsed or that this
// orchestrator owns (see WithOwnerID) but is not driving, with a
// compare-and-swap, then drives
// it to its end: a step started but not recorded done runs again with the
// same idempotency key, or is compensated if its OnRecover says so; a
// compensation in progress continues. The interrupted attempt may have
// taken effect, so if the step's re-run fails it is compensated, even when
// the re-run's error is NotApplied; a step recorded failed is compensated
// unless its failure was recorded as NotApplied. It drives up to
// WithRecoverConcurrency sagas at once and returns when all are done.
// With a [WaitStore], it also wakes and drives the waiting sagas whose
// wake-up time has come (timers that fell due while no orchestrator ran)
// and those whose signal is pending (it came while no orchestrator could
// deliver it).
//
// Sagas that end CompensationFailed are counted, logged and reported to the
// listeners, not returned as errors. The error joins the store's errors and
// those of records with no registered definition (ErrUnknownSaga), which
// are left in flight.
func (o *Orchestrator) Recover(ctx context.Context) (RecoverResult, error) {
	var res RecoverResult
	if err := o.enter(); err != nil {
		return res, err
	}
	defer o.runs.Done()
	recs, err := o.store.List(ctx, Filter{Statuses: []Status{StatusRunning, StatusCompensating}})
	if err != nil {
		return res, fmt.Errorf("saga: recover: %w", err)
	}
	if o.waitStore != nil {
		// Waits that ended while no orchestrator ran its timer loop.
		// Waits that ended while no orchestrator ran its timer loop, and
		// those whose signal came while none could deliver it.
		waiting := []Status{StatusWaiting}
		for _, f := range []Filter{{Statuses: waiting, DueBy: time.Now()}, {Statuses: waiting, Signalled: true}} {
			more, err := o.store.List(ctx, f)
			if err != nil {
				return res, fmt.Errorf("saga: recover: %w", err)
			}
			recs = appendNew(recs, more)
		}
	}
	err = o.drive(ctx, recs, &res)
	return res, err
}

type outcome int

const (
	outcomeSkipped outcome = iota
	outcomeInterrupted
	outcomeCompleted
	outcomeCompensated
	outcomeCompensationFailed
	outcomeWaiting
)

// claimAndResume takes rec over with a compare-and-swap and drives it. The
// error is nil for every terminal outcome.
func (o *Orchestrator) claimAndResume(ctx context.Context, def Definition, rec *Record) (outcome, error) {
	rec.Owner, rec.LeaseUntil = o.id, time.Now().Add(o.lease)
	if err := o.store.Update(ctx, rec); err != nil {
		if errors.Is(err, ErrConflict) {
			return outcomeSkipped, nil
		}
		return outcomeInterrupted, fmt.Errorf("saga: recover %s: claim: %w", rec.ID, err)
	}
	return o.resumeOutcome(ctx, def, rec, nil)
}

// wakeUp is what a wake-up tells the drive of a waiting saga it takes
// back without a write of its own (see Orchestrator.wake).
type wakeUp struct {
	// delivered is the signal of the saga's wait as Signal stored it, or
	// nil: the drive need not read it.
	delivered *Signal
}

// resumeOutcome drives rec and tells how its drive ended: rec claimed,
// or, with w, woken and claimed by the drive's first write.
func (o *Orchestrator) resumeOutcome(ctx context.Context, def Definition, rec *Record, w *wakeUp) (outcome, error) {
	err := def.resume(ctx, o, rec, w)
	switch {
	case err == nil:
		return outcomeCompleted, nil
	case errors.Is(err, ErrCompensationFailed):
		return outcomeCompensationFailed, nil
	case errors.Is(err, ErrCompensated):
		return outcomeCompensated, nil
	case errors.Is(err, ErrLostOwnership):
		return outcomeSkipped, nil
	case errors.Is(err, ErrWaiting):
		return outcomeWaiting, nil
	}
	return outcomeInterrupted, fmt.Errorf("saga: recover %s: %w", rec.ID, err)
}

// Failed lists the sagas whose compensation failed for good, oldest first:
// each needs a human to fix the participant, then RetryCompensation, or to
// repair by hand, then Resolve.
func (o *Orchestrator) Failed(ctx context.Context) ([]*Record, error) {
	recs, err := o.store.List(ctx, Filter{Statuses: []Status{StatusCompensationFailed}})
	if err != nil {
		return nil, fmt.Errorf("saga: failed: %w", err)
	}
	return recs, nil
}

// RetryCompensation compensates again the saga id, which must be in
// StatusCompensationFailed (else the error wraps ErrWrongStatus), with each
// compensation's retry budget renewed. It returns nil when the saga ends
// Compensated, a *CompensationFailedError when it fails again.
func (o *Orchestrator) RetryCompensation(ctx context.Context, id string) error {
	if err := o.enter(); err != nil {
		return err
	}
	defer o.runs.Done()
	rec, err := o.store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("saga: retry compensation: %w", err)
	}
	if rec.Status != StatusCompensationFailed {
		return fmt.Errorf("saga: retry compensation %s: %w: %s", id, ErrWrongStatus, rec.Status)
	}
	def, err := o.definition(rec.Name)
	if err != nil {
		return fmt.Errorf("saga: retry compensation %s: %w", id, err)
	}
	rec.Status = StatusCompensating
	for i := range rec.Steps {
		if rec.Steps[i].Status == StepCompensationFailed {
			rec.Steps[i].Status = StepDone
		}
	}
	outcome, err := o.claimAndResume(ctx, def, rec)
	switch outcome {
	case outcomeSkipped:
		return fmt.Errorf("saga: retry compensation %s: %w", id, ErrConflict)
	case outcomeCompensationFailed:
		return o.lastFailure(ctx, id)
	}
	return err
}

// lastFailure rebuilds the *CompensationFailedError of a failed saga.
func (o *Orchestrator) lastFailure(ctx context.Context, id string) error {
	rec, err := o.store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("saga: %s: %w", id, err)
	}
	failed := &CompensationFailedError{SagaID: id, Saga: rec.Name, Cause: errors.New(rec.Error)}
	for _, sr := range rec.Steps {
		if sr.Status == StepCompensationFailed {
			failed.Step, failed.Err = sr.Name, errors.New(sr.Error)
		}
	}
	return failed
}

// Resolve closes the saga id, which must be in StatusCompensationFailed,
// as repaired by hand: it moves to StatusResolved with the operator's note
// and EventResolved is emitted.
func (o *Orchestrator) Resolve(ctx context.Context, id, note string) error {
	rec, err := o.store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("saga: resolve: %w", err)
	}
	if rec.Status != StatusCompensationFailed {
		return fmt.Errorf("saga: resolve %s: %w: %s", id, ErrWrongStatus, rec.Status)
	}
	rec.Status, rec.Note, rec.UpdatedAt = StatusResolved, note, time.Now()
	if err := o.store.Update(ctx, rec); err != nil {
		return fmt.Errorf("saga: resolve %s: %w", id, err)
	}
	for _, l := range o.listeners {
		l.OnEvent(ctx, Event{Kind: EventResolved, Saga: rec.Name, SagaID: id})
	}
	return nil
}
