package saga

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// Saga is the definition of a saga over the state type S: its name and its
// stages. Define it once, register it with every [Orchestrator] that may
// recover it, and start instances with [Saga.Run]. It is immutable and safe
// for concurrent use.
type Saga[S any] struct {
	name   string
	steps  []Step[S]
	stages [][]int // indices into steps, one slice per stage
	// hasLocal: a step is Local, so the orchestrator's store must be a
	// TxStore.
	hasLocal bool
	// hasWait: a step waits, so the orchestrator's store must be a
	// WaitStore.
	hasWait bool
	// span names, computed once so that a run does not concatenate strings.
	spanName, resumeSpanName string
	stepSpans, compSpans     []string
	// runs recycles finished runs with their buffers (step records, JSON
	// buffer and encoder, idempotency idents): 5 fewer allocations per saga.
	runs sync.Pool
}

// New defines a saga named name over the state S, whose stages run in
// order. It returns an error wrapping ErrInvalidOption if there is no step,
// a step has no name or no Execute, a name repeats, a timeout is negative,
// a retry policy is invalid (that error also wraps retry.ErrInvalidOption),
// a Local step is in a Parallel group, or a [Wait] is invalid (negative,
// a timer without For or Until, in a Parallel group or Local).
func New[S any](name string, stages ...Stage[S]) (*Saga[S], error) {
	if name == "" {
		return nil, invalid("saga needs a name")
	}
	s := &Saga[S]{name: name, spanName: "saga " + name, resumeSpanName: "saga " + name + " resume"}
	for _, st := range stages {
		if st == nil {
			return nil, invalid("saga %s: nil stage", name)
		}
		group := st.stageSteps()
		if len(group) == 0 {
			return nil, invalid("saga %s: empty parallel group", name)
		}
		var idx []int
		for _, step := range group {
			switch {
			case step.Name == "":
				return nil, invalid("saga %s: step %d has no name", name, len(s.steps))
			case step.Execute == nil && step.Wait == nil:
				return nil, invalid("saga %s: step %s has no Execute", name, step.Name)
			case step.Local && len(group) > 1:
				return nil, invalid("saga %s: step %s: a Local step cannot be in a Parallel group", name, step.Name)
			case step.Timeout < 0:
				return nil, invalid("saga %s: step %s: negative timeout", name, step.Name)
			case slices.ContainsFunc(s.steps, func(o Step[S]) bool { return o.Name == step.Name }):
				return nil, invalid("saga %s: step name %s repeats", name, step.Name)
			}
			if err := validWait(name, step, len(group)); err != nil {
				return nil, err
			}
			if err := step.Retry.Validate(); err != nil {
				return nil, invalid("saga %s: step %s: Retry: %w", name, step.Name, err)
			}
			if p := step.CompensateRetry; p != nil {
				if err := p.Validate(); err != nil {
					return nil, invalid("saga %s: step %s: CompensateRetry: %w", name, step.Name, err)
				}
			}
			s.hasLocal = s.hasLocal || step.Local
			s.hasWait = s.hasWait || step.Wait != nil
			idx = append(idx, len(s.steps))
			s.steps = append(s.steps, step)
			s.stepSpans = append(s.stepSpans, "saga step "+step.Name)
			s.compSpans = append(s.compSpans, "saga compensate "+step.Name)
		}
		s.stages = append(s.stages, idx)
	}
	if len(s.steps) == 0 {
		return nil, invalid("saga %s has no step", name)
	}
	return s, nil
}

// Name returns the saga's name.
func (s *Saga[S]) Name() string { return s.name }

func (s *Saga[S]) local() bool { return s.hasLocal }

func (s *Saga[S]) waits() bool { return s.hasWait }

// validWait checks the Wait of step, in a stage of n steps.
func validWait[S any](name string, step Step[S], n int) error {
	w := step.Wait
	switch {
	case w == nil:
		return nil
	case n > 1:
		return invalid("saga %s: step %s: a waiting step cannot be in a Parallel group", name, step.Name)
	case step.Local:
		return invalid("saga %s: step %s: a waiting step cannot be Local", name, step.Name)
	case w.For < 0:
		return invalid("saga %s: step %s: negative wait", name, step.Name)
	case !w.Signal && w.For == 0 && w.Until == nil:
		return invalid("saga %s: step %s: a timer needs For or Until", name, step.Name)
	case !w.Signal && (w.Key != nil || w.OnSignal != nil):
		return invalid("saga %s: step %s: Key and OnSignal need Signal", name, step.Name)
	}
	return nil
}

// Run starts an instance of the saga with the initial state and drives it
// to its end on o, persisting every transition in o's store before the next
// action. It returns the final state and:
//
//   - nil when every step completed;
//   - a [*CompensatedError] (errors.Is ErrCompensated) when a step failed or
//     the deadline passed and every completed step was compensated;
//   - a [*CompensationFailedError] (errors.Is ErrCompensationFailed) when a
//     compensation failed for good;
//   - an error wrapping [ErrWaiting] when the saga parked in a waiting step
//     ([Wait]): it continues when its signal arrives or its wait ends, and
//     the state returned is the state it parked with;
//   - any other error (the context's, the store's, ErrLostOwnership) when it
//     stopped driving the saga midway: the saga is still in flight in the
//     store and [Orchestrator.Recover] continues it.
//
// s must be registered on o ([Orchestrator.Register]) first: otherwise Run
// starts nothing and returns an error wrapping [ErrUnknownSaga]. Only a
// registered saga can be continued by Recover after a restart, so Run
// refuses to start one that could not be.
func (s *Saga[S]) Run(ctx context.Context, o *Orchestrator, state S, opts ...RunOption) (S, error) {
	var cfg runConfig
	for _, opt := range opts {
		if opt == nil {
			continue // a nil Option is no option
		}
		opt(&cfg)
	}
	if err := o.registered(s); err != nil {
		return state, fmt.Errorf("saga: run %s: %w", s.name, err)
	}
	if err := o.enter(); err != nil {
		return state, err
	}
	defer o.runs.Done()
	if cfg.id == "" {
		cfg.id = o.newID()
	}
	r := s.acquire(o)
	defer s.release(r) // after the result, a copy of r.state, is taken
	r.state = state
	steps := r.rec.Steps[:0]
	for i := range s.steps {
		steps = append(steps, StepRecord{Name: s.steps[i].Name, Status: StepPending})
	}
	r.rec = Record{
		ID: cfg.id, Name: s.name, Status: StatusRunning, Steps: steps,
		Owner: o.id, Deadline: cfg.deadline, // CreatedAt: set by the first write
	}
	r.dirty = true
	ctx, end := o.startRun(ctx, s.spanName, s.name, r.rec.ID, false)
	err := r.drive(ctx)
	if end != nil {
		end(r.rec.Status, err)
	}
	return r.state, err
}

// resume continues the stored instance rec, already claimed by o.
func (s *Saga[S]) resume(ctx context.Context, o *Orchestrator, rec *Record, w *wakeUp) error {
	if len(rec.Steps) != len(s.steps) {
		return fmt.Errorf("saga: resume %s %s: %d steps recorded, definition has %d: %w", s.name, rec.ID, len(rec.Steps), len(s.steps), ErrUnknownSaga)
	}
	for i := range s.steps {
		if rec.Steps[i].Name != s.steps[i].Name {
			return fmt.Errorf("saga: resume %s %s: step %d recorded as %s, definition has %s: %w", s.name, rec.ID, i, rec.Steps[i].Name, s.steps[i].Name, ErrUnknownSaga)
		}
	}
	r := s.acquire(o)
	defer s.release(r)
	if len(rec.State) > 0 {
		if err := json.Unmarshal(rec.State, &r.state); err != nil {
			return fmt.Errorf("saga: resume %s %s: decode state: %w", s.name, rec.ID, err)
		}
	}
	r.rec = *rec
	r.created = true
	if w != nil {
		r.delivered, r.unclaimed = w.delivered, true
	}
	for _, st := range rec.Steps {
		r.seq = max(r.seq, st.Seq)
	}
	ctx, end := o.startRun(ctx, s.resumeSpanName, s.name, r.rec.ID, true)
	r.emit(ctx, Event{Kind: EventResumed})
	err := r.drive(ctx)
	if end != nil {
		end(r.rec.Status, err)
	}
	return err
}
