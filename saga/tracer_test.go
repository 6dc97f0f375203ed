package saga_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/go-microkit/microkit/saga"
)

// spanKey marks a context as inside the span the fake tracer started.
type spanKey struct{}

// fakeTracer logs the spans the orchestrator starts and ends, and puts
// each span's name in the context it returns.
type fakeTracer struct {
	mu  sync.Mutex
	log []string
}

func (f *fakeTracer) add(format string, args ...any) {
	f.mu.Lock()
	f.log = append(f.log, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeTracer) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func (f *fakeTracer) StartRun(ctx context.Context, s saga.RunSpan) (context.Context, func(saga.Status, error)) {
	f.add("start %q saga=%s id=%s resume=%v parent=%v", s.Name, s.Saga, s.SagaID, s.Resume, ctx.Value(spanKey{}))
	return context.WithValue(ctx, spanKey{}, s.Name), func(st saga.Status, err error) {
		f.add("end %q status=%s err=%v", s.Name, st, err != nil)
	}
}

func (f *fakeTracer) StartAttempt(ctx context.Context, s saga.AttemptSpan) (context.Context, func(error)) {
	f.add("start %q saga=%s id=%s step=%s attempt=%d compensating=%v parent=%v",
		s.Name, s.Saga, s.SagaID, s.Step, s.Attempt, s.Compensating, ctx.Value(spanKey{}))
	return context.WithValue(ctx, spanKey{}, s.Name), func(err error) { f.add("end %q err=%v", s.Name, err) }
}

// TestTracer: the orchestrator starts a span per run and a child per
// attempt, runs each step in its attempt's context, and ends each span
// with its outcome.
func TestTracer(t *testing.T) {
	tr := &fakeTracer{}
	j := &journal{}
	o := newOrchestrator(t, saga.NewMemoryStore(), saga.WithTracer(tr))
	a := step(j, "a", 0, nil)
	exec := a.Execute
	a.Execute = func(ctx context.Context, s *order) error {
		if got := ctx.Value(spanKey{}); got != "saga step a" {
			t.Errorf("step a runs in the span %v", got)
		}
		return exec(ctx, s)
	}
	b := step(j, "b", 2, errBoom)
	b.Retry = retries(1)
	if _, err := define(t, o, a, b).Run(context.Background(), o, order{}, saga.WithID("s-1")); !errors.Is(err, saga.ErrCompensated) {
		t.Fatalf("Run = %v, want ErrCompensated", err)
	}
	want := []string{
		`start "saga test" saga=test id=s-1 resume=false parent=<nil>`,
		`start "saga step a" saga=test id=s-1 step=a attempt=1 compensating=false parent=saga test`,
		`end "saga step a" err=<nil>`,
		`start "saga step b" saga=test id=s-1 step=b attempt=1 compensating=false parent=saga test`,
		`end "saga step b" err=boom`,
		`start "saga step b" saga=test id=s-1 step=b attempt=2 compensating=false parent=saga test`,
		`end "saga step b" err=boom`,
		`start "saga compensate b" saga=test id=s-1 step=b attempt=1 compensating=true parent=saga test`,
		`end "saga compensate b" err=<nil>`,
		`start "saga compensate a" saga=test id=s-1 step=a attempt=1 compensating=true parent=saga test`,
		`end "saga compensate a" err=<nil>`,
		`end "saga test" status=compensated err=true`,
	}
	if got := tr.list(); !slices.Equal(got, want) {
		t.Errorf("spans:\n%q\nwant:\n%q", got, want)
	}
}

// TestTracerResume: a run that Recover continues is traced as a resume.
func TestTracerResume(t *testing.T) {
	store := saga.NewMemoryStore()
	def, _ := counting()
	strand(t, newOrchestrator(t, store, saga.WithOwnerID("node-1")), def, "x")
	tr := &fakeTracer{}
	restarted := newOrchestrator(t, store, saga.WithOwnerID("node-1"), saga.WithTracer(tr))
	register(t, restarted, def)
	if res, err := restarted.Recover(context.Background()); err != nil || res.Completed != 1 {
		t.Fatalf("Recover = %+v, %v", res, err)
	}
	want := []string{
		`start "saga counting resume" saga=counting id=x resume=true parent=<nil>`,
		`start "saga step b" saga=counting id=x step=b attempt=2 compensating=false parent=saga counting resume`,
		`end "saga step b" err=<nil>`,
		`start "saga step c" saga=counting id=x step=c attempt=1 compensating=false parent=saga counting resume`,
		`end "saga step c" err=<nil>`,
		`end "saga counting resume" status=completed err=false`,
	}
	if got := tr.list(); !slices.Equal(got, want) {
		t.Errorf("spans:\n%q\nwant:\n%q", got, want)
	}
}

// nilEnds returns no end functions, which the orchestrator must accept.
type nilEnds struct{}

func (nilEnds) StartRun(ctx context.Context, _ saga.RunSpan) (context.Context, func(saga.Status, error)) {
	return ctx, nil
}

func (nilEnds) StartAttempt(ctx context.Context, _ saga.AttemptSpan) (context.Context, func(error)) {
	return ctx, nil
}

func TestTracerNilEnd(t *testing.T) {
	j := &journal{}
	o := newOrchestrator(t, saga.NewMemoryStore(), saga.WithTracer(nilEnds{}))
	if _, err := define(t, o, step(j, "a", 0, nil)).Run(context.Background(), o, order{}); err != nil {
		t.Fatal(err)
	}
}
