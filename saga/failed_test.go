package saga_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
)

// events collects lifecycle events.
type events struct {
	mu   sync.Mutex
	list []saga.Event
}

func (e *events) OnEvent(_ context.Context, ev saga.Event) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	e.mu.Unlock()
}

func (e *events) kinds() []saga.EventKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []saga.EventKind
	for _, ev := range e.list {
		out = append(out, ev.Kind)
	}
	return out
}

// refund is a compensation that fails until fixed.
type refund struct {
	mu       sync.Mutex
	fixed    bool
	attempts int
}

func (r *refund) step(j *journal) saga.Step[order] {
	s := step(j, "charge", 0, nil)
	s.Compensate = func(ctx context.Context, _ *order) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.attempts++
		if !r.fixed {
			return errors.New("payment provider down")
		}
		j.add("undo charge")
		return nil
	}
	return s
}

func TestCompensationRetryThenCompensationFailed(t *testing.T) {
	j, ev, rf := &journal{}, &events{}, &refund{}
	store := saga.NewMemoryStore()
	o := newOrchestrator(t, store, saga.WithListener(ev))
	def := define(t, o, step(j, "reserve", 0, nil), rf.step(j), step(j, "ship", 1, saga.NotApplied(errBoom)))

	_, err := def.Run(context.Background(), o, order{}, saga.WithID("o-1"))
	var failed *saga.CompensationFailedError
	if !errors.As(err, &failed) || !errors.Is(err, saga.ErrCompensationFailed) || !errors.Is(err, errBoom) {
		t.Fatalf("Run = %v, want a CompensationFailedError", err)
	}
	if failed.Step != "charge" || failed.SagaID != "o-1" {
		t.Errorf("error = %+v", failed)
	}
	if rf.attempts != 3 { // the first attempt and the 2 retries of newOrchestrator's policy
		t.Errorf("refund attempts = %d, want 3", rf.attempts)
	}
	// reserve was compensated? No: compensation stops at the failure, so
	// the operator sees exactly what is left.
	if got, want := j.list(), []string{"do reserve", "do charge", "fail ship"}; !slices.Equal(got, want) {
		t.Errorf("journal = %q, want %q", got, want)
	}
	if k := ev.kinds(); k[len(k)-1] != saga.EventCompensationFailed {
		t.Errorf("last event = %v, want compensation_failed", k[len(k)-1])
	}

	list, err := o.Failed(context.Background())
	if err != nil || len(list) != 1 || list[0].ID != "o-1" || list[0].Status != saga.StatusCompensationFailed {
		t.Fatalf("Failed = %v, %v", list, err)
	}

	// Retrying while the provider is still down fails again, loudly.
	if err := o.RetryCompensation(context.Background(), "o-1"); !errors.As(err, &failed) || failed.Step != "charge" {
		t.Fatalf("RetryCompensation while broken = %v", err)
	}
	rf.mu.Lock()
	rf.fixed = true
	rf.mu.Unlock()
	if err := o.RetryCompensation(context.Background(), "o-1"); err != nil {
		t.Fatalf("RetryCompensation = %v", err)
	}
	if got, want := j.list(), []string{"do reserve", "do charge", "fail ship", "undo charge", "undo reserve"}; !slices.Equal(got, want) {
		t.Errorf("journal = %q, want %q", got, want)
	}
	rec, _ := store.Get(context.Background(), "o-1")
	if rec.Status != saga.StatusCompensated {
		t.Errorf("status = %s", rec.Status)
	}
	if err := o.RetryCompensation(context.Background(), "o-1"); !errors.Is(err, saga.ErrWrongStatus) {
		t.Errorf("RetryCompensation of a compensated saga = %v", err)
	}
	if list, _ := o.Failed(context.Background()); len(list) != 0 {
		t.Errorf("Failed after the retry = %v", list)
	}
}

func TestResolveByHand(t *testing.T) {
	j, ev, rf := &journal{}, &events{}, &refund{}
	store := saga.NewMemoryStore()
	o := newOrchestrator(t, store, saga.WithListener(ev))
	def := define(t, o, rf.step(j), step(j, "ship", 1, retry.Permanent(errBoom)))
	if _, err := def.Run(context.Background(), o, order{}, saga.WithID("o-2")); !errors.Is(err, saga.ErrCompensationFailed) {
		t.Fatal(err)
	}
	if err := o.Resolve(context.Background(), "o-2", "refunded by hand, ticket 42"); err != nil {
		t.Fatal(err)
	}
	rec, _ := store.Get(context.Background(), "o-2")
	if rec.Status != saga.StatusResolved || rec.Note != "refunded by hand, ticket 42" {
		t.Errorf("record = %+v", rec)
	}
	if k := ev.kinds(); k[len(k)-1] != saga.EventResolved {
		t.Errorf("last event = %v", k[len(k)-1])
	}
	if err := o.Resolve(context.Background(), "o-2", "again"); !errors.Is(err, saga.ErrWrongStatus) {
		t.Errorf("second Resolve = %v", err)
	}
	if err := o.Resolve(context.Background(), "missing", ""); !errors.Is(err, saga.ErrNotFound) {
		t.Errorf("Resolve of a missing saga = %v", err)
	}
}

func TestPermanentCompensationErrorFailsAtOnce(t *testing.T) {
	j := &journal{}
	attempts := 0
	charge := step(j, "charge", 0, nil)
	charge.Compensate = func(context.Context, *order) error {
		attempts++
		return retry.Permanent(errors.New("card closed"))
	}
	o := newOrchestrator(t, saga.NewMemoryStore())
	_, err := define(t, o, charge, step(j, "ship", 1, errBoom)).Run(context.Background(), o, order{})
	if !errors.Is(err, saga.ErrCompensationFailed) || attempts != 1 {
		t.Fatalf("Run = %v after %d attempts", err, attempts)
	}
}

func TestListenerSeesLifecycle(t *testing.T) {
	j, ev := &journal{}, &events{}
	o := newOrchestrator(t, saga.NewMemoryStore(), saga.WithListener(ev))
	b := step(j, "b", 1, errBoom)
	b.Retry = retries(1)
	if _, err := define(t, o, step(j, "a", 0, nil), b).Run(context.Background(), o, order{}); err != nil {
		t.Fatal(err)
	}
	want := []saga.EventKind{
		saga.EventStarted, saga.EventStepStarted, saga.EventStepSucceeded,
		saga.EventStepStarted, saga.EventStepFailed, saga.EventStepStarted, saga.EventStepSucceeded,
		saga.EventCompleted,
	}
	if got := ev.kinds(); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	for _, e := range ev.list {
		if e.Saga != "test" || e.SagaID == "" {
			t.Errorf("event %v lacks its saga: %+v", e.Kind, e)
		}
	}
}
