package saga_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/saga"
)

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

// TestLeaseIsRenewedWhileAStepRuns: a step that outlives its saga's lease
// many times over keeps the saga, because the owner's lease keeper renews
// the lease while the step runs; another orchestrator's Recover leaves it
// alone.
func TestLeaseIsRenewedWhileAStepRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store := saga.NewMemoryStore()
		const lease = 30 * time.Second // renewed every 10s
		o1 := newOrchestrator(t, store, saga.WithOwnerID("o1"), saga.WithLease(lease))
		o2 := newOrchestrator(t, store, saga.WithOwnerID("o2"), saga.WithLease(lease))
		b := newBlockingStep()
		def := mustNew(t, b.step())
		register(t, o1, def)
		register(t, o2, def)
		done := make(chan error, 1)
		go func() {
			_, err := def.Run(ctx, o1, order{}, saga.WithID("long"))
			done <- err
		}()
		<-b.started
		time.Sleep(time.Hour) // the step outlives its first lease 120 times
		rec, err := store.Get(ctx, "long")
		if err != nil {
			t.Fatal(err)
		}
		if !rec.LeaseUntil.After(time.Now()) || rec.Owner != "o1" {
			t.Fatalf("after an hour: lease until %v, owner %s; want o1's lease renewed past now (%v)", rec.LeaseUntil, rec.Owner, time.Now())
		}
		res, err := o2.Recover(ctx)
		if err != nil || res.Skipped != 1 || res.Resumed != 0 {
			t.Fatalf("o2.Recover = %+v, %v; want the saga left to its live owner", res, err)
		}
		close(b.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := b.count(); n != 1 {
			t.Errorf("step ran %d times, want 1", n)
		}
	})
}

// TestLostLeaseStopsTheOldOwner: an owner frozen in a step (a long GC
// pause, a partition) past its lease loses the saga to another
// orchestrator's Recover, and stops driving it when it wakes.
func TestLostLeaseStopsTheOldOwner(t *testing.T) {
	ctx := context.Background()
	store := saga.NewMemoryStore()
	// An hour-long lease: o1's keeper does not renew during the test, as
	// if o1 were frozen; the lease is made to lapse in the store.
	o1 := newOrchestrator(t, store, saga.WithOwnerID("o1"), saga.WithLease(time.Hour))
	o2 := newOrchestrator(t, store, saga.WithOwnerID("o2"), saga.WithLease(time.Hour))
	j := &journal{}
	b := newBlockingStep()
	def := mustNew(t, b.step(), step(j, "after", 0, nil))
	register(t, o1, def)
	register(t, o2, def)
	done := make(chan error, 1)
	go func() {
		_, err := def.Run(ctx, o1, order{}, saga.WithID("frozen"))
		done <- err
	}()
	wait(t, b.started, "the step to start")
	expireLease(t, store, "frozen")
	res, err := o2.Recover(ctx)
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
	rec, _ := store.Get(ctx, "frozen")
	if rec.Status != saga.StatusCompleted || rec.Owner != "o2" {
		t.Errorf("record = %s owned by %s", rec.Status, rec.Owner)
	}
}

// expireLease makes the lease of the saga id lapse in store, as time would
// for an owner that stopped renewing it.
func expireLease(t *testing.T, store saga.Store, id string) {
	t.Helper()
	rec, err := store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	rec.LeaseUntil = time.Now().Add(-time.Second)
	if err := store.Update(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

func TestRecoverLeavesTheSagasItDrivesAlone(t *testing.T) {
	o := newOrchestrator(t, saga.NewMemoryStore(), saga.WithOwnerID("self"))
	b := newBlockingStep()
	def := define(t, o, b.step())
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
