package saga

import (
	"context"
	"sync"
	"time"
)

// executeGroup runs the steps of a parallel group at once and awaits them
// all. Their results are persisted together with the next transition.
func (r *run[S]) executeGroup(ctx context.Context, todo []int) error {
	errs := make([]error, len(todo))
	attempts := make([]int, len(todo))
	doubts := make([]bool, len(todo))
	// Each step's end, kept apart until the group ends: the lease keeper
	// may be writing the record meanwhile.
	ends := make([]time.Time, len(todo))
	start := time.Now()
	for k, i := range todo {
		sr := &r.rec.Steps[i]
		// Found running: interrupted by a crash, so possibly applied.
		doubts[k] = sr.Status == StepRunning
		sr.Status, sr.StartedAt, sr.EndedAt = StepRunning, start, time.Time{}
		sr.Attempts++
	}
	if err := r.begin(ctx); err != nil {
		return err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		order []int
	)
	for k, i := range todo {
		first := r.rec.Steps[i].Attempts
		wg.Go(func() {
			attempts[k], errs[k] = r.runDetached(ctx, i, first, &doubts[k])
			ends[k] = time.Now()
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
			sr.EndedAt = ends[k]
			continue
		}
		sr.Error = errs[k].Error()
		if _, abort := errs[k].(*abortError); abort {
			result = errs[k] // an abort outranks a failure
			continue
		}
		r.fail(sr, doubts[k])
		sr.EndedAt = ends[k]
		if result == nil {
			result = errs[k]
		}
	}
	return result
}

// runDetached runs step i of a parallel group with its retry policy,
// without touching the record (its siblings run at the same time); it
// returns the attempt count reached, and sets *doubt when an attempt failed
// in a way that does not prove it had no effect.
func (r *run[S]) runDetached(ctx context.Context, i, attempt int, doubt *bool) (int, error) {
	tries := tries{start: time.Now()}
	for {
		r.emit(ctx, Event{Kind: EventStepStarted, Step: r.def.steps[i].Name, Attempt: attempt})
		err := r.attempt(ctx, i, false, attempt)
		if err == nil {
			return attempt, nil
		}
		*doubt = *doubt || !IsNotApplied(err)
		if retryErr := r.retry(ctx, i, err, &tries); retryErr != nil {
			return attempt, retryErr
		}
		attempt++
	}
}
