package saga

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// following tells what the write of a Local step at stage si also
// records of the stage after it.
type following struct {
	// next is the step the write marks running (a single step that is
	// not Local and has an Execute), or -1.
	next int
	// park is the step the write parks the saga in (a single waiting
	// step with no Execute: nothing runs between the two), or -1.
	park int
	// last: no stage follows, so the write completes the saga.
	last bool
}

func (r *run[S]) following(si int) following {
	f := following{next: -1, park: -1, last: si == len(r.def.stages)-1}
	if f.last {
		return f
	}
	if stage := r.def.stages[si+1]; len(stage) == 1 {
		switch st := &r.def.steps[stage[0]]; {
		case st.Local:
		case st.Execute != nil:
			f.next = stage[0]
		case st.Wait != nil:
			f.park = stage[0]
		}
	}
	return f
}

// executeLocal runs the Local step i with its retry policy, each attempt
// in one transaction with the record write that marks it done; no write
// precedes it. That write also records f.next running (then begun is
// f.next, whose first attempt must not be persisted again), the saga
// parked in f.park (then parked reports it: the caller ends the park, see
// parked), or the saga completed when f.last. An Execute error rolls
// everything back, so it is never in doubt: when the policy gives up, the
// step fails like a NotApplied one.
func (r *run[S]) executeLocal(ctx context.Context, i int, f following) (begun int, parked bool, err error) {
	next, last := f.next, f.last
	sr := &r.rec.Steps[i]
	tries := tries{start: time.Now()}
	sr.StartedAt, sr.EndedAt = tries.start, time.Time{}
	for n := sr.Attempts + 1; ; n++ {
		r.save()
		created := r.created
		r.emit(ctx, Event{Kind: EventStepStarted, Step: sr.Name, Attempt: n})
		var execErr error
		err := r.o.txStore.InTx(ctx, func(ctx context.Context) error {
			if execErr = r.attempt(ctx, i, false, n); execErr != nil {
				return execErr
			}
			r.seq++
			now := time.Now()
			sr.Status, sr.Seq, sr.Attempts, sr.Error, sr.EndedAt = StepDone, r.seq, n, "", now
			r.dirty = true
			switch {
			case next >= 0:
				ns := &r.rec.Steps[next]
				ns.Status, ns.StartedAt, ns.EndedAt = StepRunning, now, time.Time{}
				ns.Attempts++
			case last:
				r.rec.Status = StatusCompleted
			case f.park >= 0:
				// A timer already due leaves the saga running: the
				// step completes when the drive reaches it.
				r.prepPark(f.park, now)
			}
			return r.writeTx(ctx)
		})
		if err == nil {
			r.claimed()
			if !created {
				r.emit(ctx, Event{Kind: EventStarted})
			}
			return next, r.rec.Status == StatusWaiting, nil
		}
		r.restore()
		if execErr == nil {
			return -1, false, r.txAbort(sr.Name, err)
		}
		sr.Attempts, sr.Error = n, execErr.Error()
		if retryErr := r.retry(ctx, i, execErr, &tries); retryErr != nil {
			if _, ok := retryErr.(*stepFailure); ok {
				r.fail(sr, false) // rolled back: nothing of it to compensate
				sr.EndedAt = time.Now()
			}
			return -1, false, retryErr
		}
	}
}

// compensateLocal runs the Compensate of the Local step i with its retry
// policy, each attempt in one transaction with the record write that marks
// it compensated; no write precedes it.
func (r *run[S]) compensateLocal(ctx context.Context, i int) error {
	sr := &r.rec.Steps[i]
	tries := tries{start: time.Now()}
	sr.CompensateStartedAt, sr.CompensateEndedAt = tries.start, time.Time{}
	for n := sr.CompensateAttempts + 1; ; n++ {
		r.save()
		var compErr error
		err := r.o.txStore.InTx(ctx, func(ctx context.Context) error {
			if compErr = r.attempt(ctx, i, true, n); compErr != nil {
				return compErr
			}
			sr.Status, sr.CompensateAttempts, sr.Error, sr.CompensateEndedAt = StepCompensated, n, "", time.Now()
			r.dirty = true
			return r.writeTx(ctx)
		})
		if err == nil {
			r.claimed()
			return nil
		}
		r.restore()
		if compErr == nil {
			return r.txAbort(sr.Name, err)
		}
		sr.CompensateAttempts, sr.Error = n, compErr.Error()
		if retryErr := r.retryCompensation(ctx, i, compErr, &tries); retryErr != nil {
			if _, abort := retryErr.(*abortError); !abort {
				sr.CompensateEndedAt = time.Now()
			}
			return retryErr
		}
	}
}

// writeTx writes the record inside a Local step's transaction. Its
// EventStarted, if it creates the record, waits for the commit.
func (r *run[S]) writeTx(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.write(ctx)
	return err
}

// txAbort is the error of a Local step's transaction that failed after its
// step succeeded: the record write failed (another orchestrator took over:
// ErrLostOwnership) or the commit did, which may have committed. Either
// way the saga stops driving; the record tells Recover the truth.
func (r *run[S]) txAbort(step string, err error) error {
	var abort *abortError
	if errors.As(err, &abort) {
		return abort
	}
	return &abortError{err: fmt.Errorf("saga: %s %s: step %s: transaction: %w", r.def.name, r.rec.ID, step, err)}
}

// save keeps what a Local step's transaction may change in memory.
func (r *run[S]) save() {
	r.mu.Lock()
	r.saved = r.rec
	r.savedSteps = append(r.savedSteps[:0], r.rec.Steps...)
	r.mu.Unlock()
	r.savedCreated, r.savedSeq, r.savedTake = r.created, r.seq, r.pendingTake
}

// restore undoes a rolled-back transaction's changes in memory. The state
// is encoded again at the next write: the transaction may have encoded it
// into the buffer that the saved record's State points to.
func (r *run[S]) restore() {
	r.mu.Lock()
	steps := r.rec.Steps
	r.rec = r.saved
	r.rec.Steps = append(steps[:0], r.savedSteps...)
	r.mu.Unlock()
	r.created, r.seq, r.dirty, r.pendingTake = r.savedCreated, r.savedSeq, true, r.savedTake
	r.looked, r.early = false, nil // a park rolled back
}
