package saga

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// run drives one saga instance. It belongs to the goroutine that called Run,
// Recover or RetryCompensation; the orchestrator's lease keeper only renews
// its lease, under mu, while a step is executing.
type run[S any] struct {
	o     *Orchestrator
	def   *Saga[S]
	state S

	mu        sync.Mutex // guards rec's store writes and executing, shared with renew
	rec       Record
	executing bool // a step or compensation is running: renew may write
	lost      bool // renew lost the record to another orchestrator

	created bool // rec exists in the store
	dirty   bool // state changed since it was last encoded
	seq     int  // highest completion Seq so far
	// delivered is the signal Signal delivered with the wake-up (or the
	// park's look found), for awaken; pendingTake is the key of a signal
	// awaken read pending, which the saga's next write takes.
	delivered   *Signal
	pendingTake string
	// looked: the write that parked the saga was a ParkStore's Park, which
	// returned early, the signal its key had already (nil if none), so
	// that parked need not look for it.
	looked bool
	early  *Signal
	// unclaimed: the run woke the saga and has not written yet, the write
	// that claims it; held keeps the events emitted meanwhile, for the
	// listeners once that write succeeded (claimed).
	unclaimed bool
	held      []heldEvent
	// selfWoken: the run took the saga back from its own park (a signal
	// came before it), and its claim may lose to another drive.
	selfWoken bool
	buf       bytes.Buffer
	enc       *json.Encoder
	idents    []stepIdent
	todoBuf   [4]int // backs the todo list of a stage, so most runs need no allocation

	// What a Local step's transaction changes in memory, saved before it so
	// that a rollback restores it.
	saved        Record
	savedSteps   []StepRecord
	savedCreated bool
	savedSeq     int
	savedTake    string
}

// abortError stops driving a saga without deciding its outcome: the caller's
// context ended, the store failed, or another orchestrator took over. The
// saga stays in flight for Recover.
type abortError struct{ err error }

func (e *abortError) Error() string { return e.err.Error() }

// stepFailure is a step that failed for good: compensation follows.
type stepFailure struct{ err error }

func (e *stepFailure) Error() string { return e.err.Error() }

// acquire returns a run of s for o, recycled when one is free.
func (s *Saga[S]) acquire(o *Orchestrator) *run[S] {
	r, _ := s.runs.Get().(*run[S])
	if r == nil {
		r = &run[S]{def: s, idents: make([]stepIdent, len(s.steps))}
		r.enc = json.NewEncoder(&r.buf)
	}
	r.o = o
	return r
}

// release resets r, keeping its buffers, and recycles it. The lease keeper
// may still hold r from a snapshot: it reads r only under r.mu, and only
// while r is executing, so it either sees r idle or renews the saga r
// drives next for the same orchestrator.
func (s *Saga[S]) release(r *run[S]) {
	var zero S
	r.mu.Lock()
	r.rec = Record{Steps: r.rec.Steps[:0]}
	r.executing, r.lost = false, false
	r.saved = Record{}
	r.mu.Unlock()
	r.state, r.created, r.dirty, r.seq = zero, false, false, 0
	r.delivered, r.pendingTake, r.unclaimed, r.selfWoken = nil, "", false, false
	r.looked, r.early = false, nil
	clear(r.held)
	r.held = r.held[:0]
	r.buf.Reset()
	s.runs.Put(r)
}

// drive runs the saga from where its record stands to a terminal status.
func (r *run[S]) drive(ctx context.Context) error {
	for i := range r.idents {
		r.idents[i] = stepIdent{sagaID: r.rec.ID, step: r.def.steps[i].Name}
	}
	r.o.track(r.rec.ID, r)
	defer r.o.untrack(r.rec.ID)
	// The engine's own errors are never wrapped: type assertions suffice
	// (and, unlike errors.As, do not allocate).
	err := r.forward(ctx)
	if failure, ok := err.(*stepFailure); ok {
		err = r.compensate(ctx, failure.err)
	}
	switch e := err.(type) {
	case *abortError:
		if r.selfWoken && r.unclaimed && errors.Is(e.err, ErrLostOwnership) {
			// The claim after the park lost: another drive took the saga
			// from its wait, and goes on with it.
			return fmt.Errorf("saga: %s %s: %w (continued by another drive): %w", r.def.name, r.rec.ID, ErrWaiting, e.err)
		}
		return e.err
	case *waitingError:
		return e.err
	}
	return err
}

// forward executes the stages not yet done, then completes the saga.
func (r *run[S]) forward(ctx context.Context) error {
	if r.rec.Status == StatusCompensating {
		return &stepFailure{err: errors.New(r.rec.Error)}
	}
	begun := -1 // the step a Local step's commit marked running: its first attempt is persisted
	for si, stage := range r.def.stages {
		todo := r.todoBuf[:0]
		for _, i := range stage {
			switch sr := &r.rec.Steps[i]; {
			case sr.Status == StepDone:
				continue
			case sr.Status == StepRunning && i != begun && r.def.steps[i].OnRecover == RecoverCompensate:
				// Interrupted and declared unsafe to re-run: it may have taken
				// effect, so it joins the steps to compensate, newest first.
				r.seq++
				sr.Status, sr.Seq = StepCompensating, r.seq
				return &stepFailure{err: fmt.Errorf("%w: step %s", ErrInDoubt, sr.Name)}
			}
			todo = append(todo, i)
		}
		if len(todo) == 0 {
			continue
		}
		if i := todo[0]; r.rec.Steps[i].Status == StepWaiting {
			// Taken back from a wait: its end decides, the deadline
			// included.
			if err := r.awaken(ctx, i); err != nil {
				return err
			}
			continue
		}
		if r.pastDeadline() {
			if begun >= 0 {
				// Marked running by the Local step's write, but never run:
				// nothing of it to compensate.
				sr := &r.rec.Steps[begun]
				sr.Status = StepPending
				sr.Attempts--
			}
			return &stepFailure{err: ErrDeadlineExceeded}
		}
		var err error
		switch i := todo[0]; {
		case len(stage) > 1:
			err = r.executeGroup(ctx, todo)
		case r.def.steps[i].Local:
			f := r.following(si)
			var parked bool
			begun, parked, err = r.executeLocal(ctx, i, f)
			if err == nil && parked {
				// The Local step's write parked the saga in the next
				// stage's wait.
				woken, err := r.parked(ctx, f.park)
				if err != nil {
					return err
				}
				if woken {
					continue // the next stage finds its step waiting: awaken
				}
			}
		case r.def.steps[i].Execute == nil: // a wait with nothing before it
		default:
			err = r.executeStep(ctx, i, i == begun)
			begun = -1
		}
		if err != nil {
			return err
		}
		if i := todo[0]; r.def.steps[i].Wait != nil {
			woken, err := r.park(ctx, i)
			if err == nil && woken {
				err = r.awaken(ctx, i)
			}
			if err != nil {
				return err
			}
		}
	}
	// A Local last step completed the saga in its own write.
	if r.rec.Status != StatusCompleted {
		r.rec.Status = StatusCompleted
		if err := r.persist(ctx); err != nil {
			return err
		}
	}
	r.emit(ctx, Event{Kind: EventCompleted})
	return nil
}

// executeStep runs step i with its retry policy, persisting each attempt's
// start (which also records the previous step's completion) before it.
// begun says that the first attempt's start is persisted already, by the
// write of the Local step before it.
func (r *run[S]) executeStep(ctx context.Context, i int, begun bool) error {
	sr := &r.rec.Steps[i]
	// A step found running was interrupted by a crash: that attempt may
	// have taken effect whatever the next one answers.
	doubt := sr.Status == StepRunning && !begun
	tries := tries{start: time.Now()}
	if !begun { // else the Local step's write recorded the start
		sr.StartedAt, sr.EndedAt = tries.start, time.Time{}
	}
	for {
		if begun {
			begun = false
			r.mu.Lock()
			r.executing = true
			r.mu.Unlock()
		} else {
			sr.Status = StepRunning
			sr.Attempts++
			if err := r.begin(ctx); err != nil {
				return err
			}
		}
		r.emit(ctx, Event{Kind: EventStepStarted, Step: sr.Name, Attempt: sr.Attempts})
		err := r.attempt(ctx, i, false, sr.Attempts)
		var next error
		if err != nil {
			// The wait before the next attempt is part of the step: the
			// lease keeps being renewed, so the record is not touched yet.
			next = r.retry(ctx, i, err, &tries)
		}
		r.end()
		if err == nil {
			r.seq++
			sr.Status, sr.Seq, sr.Error, sr.EndedAt = StepDone, r.seq, "", time.Now()
			r.dirty = true
			return nil
		}
		sr.Error = err.Error()
		doubt = doubt || !IsNotApplied(err)
		if next != nil {
			if _, ok := next.(*stepFailure); ok {
				r.fail(sr, doubt)
				sr.EndedAt = time.Now()
			}
			return next
		}
	}
}

// fail records that the step of sr failed for good. In doubt (an attempt
// failed in a way that proves nothing: a timeout, a transport error, a lost
// reply), its effect may have happened, so it gets the next completion Seq:
// it is compensated first, then the steps that completed before it.
func (r *run[S]) fail(sr *StepRecord, doubt bool) {
	sr.Status, sr.Failed = StepFailed, true
	if doubt {
		r.seq++
		sr.Seq = r.seq
	}
}

// tries counts the attempts of one execution of a step or of a
// compensation, which its retry.Policy bounds.
type tries struct {
	failed int
	start  time.Time // of the first attempt
}

// next counts a failed attempt and returns policy's wait before the next
// one, or false when policy gives up.
func (t *tries) next(policy retry.Policy) (time.Duration, bool) {
	t.failed++
	return policy.Next(t.failed, time.Since(t.start))
}

// retry decides what follows a failed attempt of step i: nil after waiting
// for the next attempt, a *stepFailure to compensate, or an *abortError.
func (r *run[S]) retry(ctx context.Context, i int, err error, tries *tries) error {
	if ctx.Err() != nil {
		return &abortError{err: fmt.Errorf("saga: %s %s: %w", r.def.name, r.rec.ID, ctx.Err())}
	}
	st := &r.def.steps[i]
	switch {
	case r.pastDeadline():
		return &stepFailure{err: fmt.Errorf("%w: %w", ErrDeadlineExceeded, err)}
	case retry.IsPermanent(err), IsNotApplied(err), st.Retryable != nil && !st.Retryable(err):
		return &stepFailure{err: err}
	}
	d, ok := tries.next(st.Retry)
	if !ok {
		return &stepFailure{err: err}
	}
	return r.wait(ctx, d)
}

// wait sleeps d before the next attempt.
func (r *run[S]) wait(ctx context.Context, d time.Duration) error {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		return &abortError{err: fmt.Errorf("saga: %s %s: %w", r.def.name, r.rec.ID, ctx.Err())}
	}
	return nil
}

// attempt runs step i's Execute (or Compensate) once, in a child span, with
// the step's idempotency key, timeout and (for Execute) the saga deadline.
func (r *run[S]) attempt(ctx context.Context, i int, compensating bool, n int) (err error) {
	st := &r.def.steps[i]
	fn, spanName := st.Execute, r.def.stepSpans[i]
	if compensating {
		fn, spanName = st.Compensate, r.def.compSpans[i]
	}
	ctx = context.WithValue(ctx, stepKey{}, &r.idents[i])
	var end func(error)
	if r.o.tracer != nil {
		ctx, end = r.o.tracer.StartAttempt(ctx, AttemptSpan{
			Name: spanName, Saga: r.def.name, SagaID: r.rec.ID, Step: st.Name, Attempt: n, Compensating: compensating,
		})
	}
	if st.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, st.Timeout)
		defer cancel()
	}
	// The deadline bounds going forward only: the compensations that undo
	// a late saga run past it, or they could never succeed.
	if !compensating && !r.rec.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, r.rec.Deadline)
		defer cancel()
	}
	// The clock is read only for listeners: time.Now is a measurable part
	// of a no-op step's cost.
	var start time.Time
	if len(r.o.listeners) > 0 {
		start = time.Now()
	}
	err = call(ctx, fn, &r.state)
	var took time.Duration
	if len(r.o.listeners) > 0 {
		took = time.Since(start)
	}
	kind := EventStepSucceeded
	switch {
	case compensating && err == nil:
		kind = EventStepCompensated
	case compensating:
		kind = EventCompensationAttemptFailed
	case err != nil:
		kind = EventStepFailed
	}
	r.emit(ctx, Event{Kind: kind, Step: st.Name, Attempt: n, Duration: took, Err: err})
	if end != nil {
		end(err) // after the listeners, which see the attempt's span in ctx
	}
	return err
}

// call runs fn and turns a panic into a permanent error: a step that panics
// is a bug that retrying will not fix.
func call[S any](ctx context.Context, fn func(context.Context, *S) error, state *S) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = retry.Permanent(fmt.Errorf("saga: step panicked: %v", p))
		}
	}()
	return fn(ctx, state)
}

func (r *run[S]) pastDeadline() bool {
	return !r.rec.Deadline.IsZero() && !time.Now().Before(r.rec.Deadline)
}

func (r *run[S]) emit(ctx context.Context, e Event) {
	if len(r.o.listeners) == 0 {
		return
	}
	e.Saga, e.SagaID = r.def.name, r.rec.ID
	if r.unclaimed {
		r.held = append(r.held, heldEvent{ctx: ctx, e: e})
		return
	}
	for _, l := range r.o.listeners {
		l.OnEvent(ctx, e)
	}
}

// heldEvent is an event of a woken run held until its claim.
type heldEvent struct {
	ctx context.Context
	e   Event
}

// claimed follows the first write of a woken run that succeeded (and, in
// a Local step's transaction, committed): the saga is the run's, and the
// events held until then reach the listeners.
func (r *run[S]) claimed() {
	if !r.unclaimed {
		return
	}
	r.unclaimed = false
	for i, h := range r.held {
		r.emit(h.ctx, h.e)
		r.held[i] = heldEvent{}
	}
	r.held = r.held[:0]
}
