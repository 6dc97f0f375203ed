package saga

import (
	"context"
	"sync"

	"github.com/cenkalti/backoff/v4"
)

// executeGroup runs the steps of a parallel group at once and awaits them
// all. Their results are persisted together with the next transition.
func (r *run[S]) executeGroup(ctx context.Context, todo []int) error {
	for _, i := range todo {
		r.rec.Steps[i].Status = StepRunning
		r.rec.Steps[i].Attempts++
	}
	if err := r.begin(ctx); err != nil {
		return err
	}
	errs := make([]error, len(todo))
	attempts := make([]int, len(todo))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		order []int
	)
	for k, i := range todo {
		first := r.rec.Steps[i].Attempts
		wg.Go(func() {
			attempts[k], errs[k] = r.runDetached(ctx, i, first)
			if errs[k] == nil {
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.end()
	for _, i := range order {
		r.seq++
		sr := &r.rec.Steps[i]
		sr.Status, sr.Seq, sr.Error = StepDone, r.seq, ""
	}
	r.dirty = len(order) > 0
	var result error
	for k, i := range todo {
		sr := &r.rec.Steps[i]
		sr.Attempts = attempts[k]
		if errs[k] == nil {
			continue
		}
		sr.Error = errs[k].Error()
		switch _, abort := errs[k].(*abortError); {
		case abort:
			result = errs[k] // an abort outranks a failure
		case result == nil:
			sr.Status = StepFailed
			result = errs[k]
		default:
			sr.Status = StepFailed
		}
	}
	return result
}

// runDetached runs step i of a parallel group with its retry policy,
// without touching the record (its siblings run at the same time); it
// returns the attempt count reached.
func (r *run[S]) runDetached(ctx context.Context, i, attempt int) (int, error) {
	var policy backoff.BackOff
	for {
		r.emit(ctx, Event{Kind: EventStepStarted, Step: r.def.steps[i].Name, Attempt: attempt})
		err := r.attempt(ctx, i, false, attempt)
		if err == nil {
			return attempt, nil
		}
		if retryErr := r.retry(ctx, i, err, &policy); retryErr != nil {
			return attempt, retryErr
		}
		attempt++
	}
}
