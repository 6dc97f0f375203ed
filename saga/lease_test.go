package saga_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/internal/testclock"
	"github.com/go-microkit/microkit/saga"
)

// updateSignal is a store that reports every successful Update.
type updateSignal struct {
	saga.Store
	updates chan saga.Record
}

func (u *updateSignal) Update(ctx context.Context, r *saga.Record) error {
	err := u.Store.Update(ctx, r)
	if err == nil {
		select {
		case u.updates <- *r.Clone():
		default:
		}
	}
	return err
}

// blockingStep blocks its first execution until release is closed, and
// counts executions.
type blockingStep struct {
	mu      sync.Mutex
	calls   int
	started chan struct{}
	release chan struct{}
}

func newBlockingStep() *blockingStep {
	return &blockingStep{started: make(chan struct{}), release: make(chan struct{})}
}

func (b *blockingStep) step() saga.Step[order] {
	return saga.Step[order]{Name: "slow", Execute: func(ctx context.Context, _ *order) error {
		b.mu.Lock()
		b.calls++
		first := b.calls == 1
		b.mu.Unlock()
		if first {
			close(b.started)
			<-b.release
		}
		return nil
	}}
}

func (b *blockingStep) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestLeaseIsRenewedWhileAStepRuns(t *testing.T) {
	clock := testclock.New()
	store := &updateSignal{Store: saga.NewMemoryStore(), updates: make(chan saga.Record, 1)}
	const lease = 30 * time.Millisecond // renewed every 10ms of real time
	o1 := newOrchestrator(t, store, saga.WithClock(clock.Now), saga.WithOwnerID("o1"), saga.WithLease(lease))
	o2 := newOrchestrator(t, store, saga.WithClock(clock.Now), saga.WithOwnerID("o2"), saga.WithLease(lease))
	b := newBlockingStep()
	def := mustNew(t, b.step())
	if err := o2.Register(def); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := def.Run(context.Background(), o1, order{}, saga.WithID("long"))
		done <- err
	}()
	wait(t, b.started, "the step to start")
	// The step outlives the lease it started with...
	clock.Advance(time.Hour)
	// ...but o1's lease keeper renews it from the new time on.
	for {
		rec := wait(t, store.updates, "a lease renewal")
		if rec.LeaseUntil.After(clock.Now()) {
			break
		}
	}
	res, err := o2.Recover(context.Background())
	if err != nil || res.Skipped != 1 || res.Resumed != 0 {
		t.Fatalf("o2.Recover = %+v, %v; want the saga left to its live owner", res, err)
	}
	close(b.release)
	if err := wait(t, done, "Run"); err != nil {
		t.Fatal(err)
	}
	if n := b.count(); n != 1 {
		t.Errorf("step ran %d times, want 1", n)
	}
}

func TestLostLeaseStopsTheOldOwner(t *testing.T) {
	clock := testclock.New()
	store := saga.NewMemoryStore()
	// An hour-long lease: the keeper does not tick during the test, as if
	// o1 were frozen (a long GC pause, a partition) while its step ran.
	o1 := newOrchestrator(t, store, saga.WithClock(clock.Now), saga.WithOwnerID("o1"), saga.WithLease(time.Hour))
	o2 := newOrchestrator(t, store, saga.WithClock(clock.Now), saga.WithOwnerID("o2"), saga.WithLease(time.Hour))
	j := &journal{}
	b := newBlockingStep()
	def := mustNew(t, b.step(), step(j, "after", 0, nil))
	if err := o2.Register(def); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := def.Run(context.Background(), o1, order{}, saga.WithID("frozen"))
		done <- err
	}()
	wait(t, b.started, "the step to start")
	clock.Advance(2 * time.Hour)
	res, err := o2.Recover(context.Background())
	if err != nil || res.Completed != 1 {
		t.Fatalf("o2.Recover = %+v, %v", res, err)
	}
	close(b.release)
	if err := wait(t, done, "Run"); !errors.Is(err, saga.ErrLostOwnership) {
		t.Fatalf("the old owner's Run = %v, want ErrLostOwnership", err)
	}
	// The interrupted step ran again under o2 (participants dedupe on the
	// idempotency key); the step after it ran once, under o2 only.
	if got := j.list(); len(got) != 1 || got[0] != "do after" {
		t.Errorf("journal = %q", got)
	}
	rec, _ := store.Get(context.Background(), "frozen")
	if rec.Status != saga.StatusCompleted || rec.Owner != "o2" {
		t.Errorf("record = %s owned by %s", rec.Status, rec.Owner)
	}
}

func TestRecoverLeavesTheSagasItDrivesAlone(t *testing.T) {
	o := newOrchestrator(t, saga.NewMemoryStore(), saga.WithOwnerID("self"))
	b := newBlockingStep()
	def := mustNew(t, b.step())
	done := make(chan error, 1)
	go func() {
		_, err := def.Run(context.Background(), o, order{}, saga.WithID("mine"))
		done <- err
	}()
	wait(t, b.started, "the step to start")
	// A periodic Recover in the same process sees its own saga in flight.
	res, err := o.Recover(context.Background())
	if err != nil || res.Skipped != 1 || res.Resumed != 0 {
		t.Fatalf("Recover = %+v, %v; want the running saga skipped", res, err)
	}
	close(b.release)
	if err := wait(t, done, "Run"); err != nil {
		t.Fatal(err)
	}
	if n := b.count(); n != 1 {
		t.Errorf("step ran %d times, want 1", n)
	}
}
