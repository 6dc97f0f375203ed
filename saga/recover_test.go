package saga_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/saga"
)

// strand registers def on o and leaves a saga of it in flight: its second
// step's caller context ends while it runs, as if the process died there.
func strand(t *testing.T, o *saga.Orchestrator, def *saga.Saga[order], id string) {
	t.Helper()
	register(t, o, def)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := def.Run(context.WithValue(ctx, cancelKey{}, cancel), o, order{}, saga.WithID(id))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("stranding %s: %v", id, err)
	}
}

type cancelKey struct{}

// strandsHere makes s cancel the context it is given when that carries a
// cancelKey (see strand): the saga is left in flight in this step.
func strandsHere(s saga.Step[order]) saga.Step[order] {
	exec := s.Execute
	s.Execute = func(ctx context.Context, o *order) error {
		if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
			cancel()
			return ctx.Err()
		}
		return exec(ctx, o)
	}
	return s
}

// counting returns steps a, b, c that count their executions per saga; b
// cancels the context it is given when it carries a cancelKey.
func counting() (*saga.Saga[order], func() map[string]int) {
	var mu sync.Mutex
	counts := map[string]int{}
	exec := func(name string) func(context.Context, *order) error {
		return func(ctx context.Context, _ *order) error {
			if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok && name == "b" {
				cancel()
				return ctx.Err()
			}
			key, _ := saga.IdempotencyKeyFromContext(ctx)
			mu.Lock()
			counts[key]++
			mu.Unlock()
			return nil
		}
	}
	def, _ := saga.New("counting",
		saga.Step[order]{Name: "a", Execute: exec("a")},
		saga.Step[order]{Name: "b", Execute: exec("b")},
		saga.Step[order]{Name: "c", Execute: exec("c")})
	return def, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps(counts)
	}
}

func maps(m map[string]int) map[string]int {
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func TestTwoOrchestratorsNeverRunOneSagaTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const sagas = 40
		store := saga.NewMemoryStore()
		def, counts := counting()
		crashed := newOrchestrator(t, store, saga.WithOwnerID("crashed"))
		for i := range sagas {
			strand(t, crashed, def, fmt.Sprint("saga-", i))
		}
		o1 := newOrchestrator(t, store, saga.WithOwnerID("o1"))
		o2 := newOrchestrator(t, store, saga.WithOwnerID("o2"))
		register(t, o1, def)
		register(t, o2, def)

		// The crashed owner's leases have not lapsed: nobody may take over.
		if res, err := o1.Recover(context.Background()); err != nil || res.Skipped != sagas || res.Resumed != 0 {
			t.Fatalf("Recover before the leases lapsed = %+v, %v", res, err)
		}

		time.Sleep(time.Minute) // the default 30s leases lapse
		var wg sync.WaitGroup
		results := make([]saga.RecoverResult, 2)
		for i, o := range []*saga.Orchestrator{o1, o2} {
			wg.Go(func() {
				res, err := o.Recover(context.Background())
				if err != nil {
					t.Error(err)
				}
				results[i] = res
			})
		}
		wg.Wait()
		if got := results[0].Completed + results[1].Completed; got != sagas {
			t.Errorf("completed %d sagas (%+v, %+v), want %d", got, results[0], results[1], sagas)
		}
		for key, n := range counts() {
			if n != 1 {
				t.Errorf("%s executed %d times", key, n)
			}
		}
		if got := len(counts()); got != 3*sagas {
			t.Errorf("%d step executions recorded, want %d", got, 3*sagas)
		}
		recs, err := store.List(context.Background(), saga.Filter{Statuses: []saga.Status{saga.StatusCompleted}})
		if err != nil || len(recs) != sagas {
			t.Fatalf("completed records = %d, %v", len(recs), err)
		}
	})
}

func TestRecoverResumesOwnSagasAtOnce(t *testing.T) {
	store := saga.NewMemoryStore()
	def, counts := counting()
	strand(t, newOrchestrator(t, store, saga.WithOwnerID("node-1")), def, "x")
	restarted := newOrchestrator(t, store, saga.WithOwnerID("node-1"))
	if err := restarted.Register(def); err != nil {
		t.Fatal(err)
	}
	res, err := restarted.Recover(context.Background())
	if err != nil || res.Resumed != 1 || res.Completed != 1 {
		t.Fatalf("Recover = %+v, %v", res, err)
	}
	if got := counts(); got["x/a"] != 1 || got["x/b"] != 1 || got["x/c"] != 1 {
		t.Errorf("executions = %v", got)
	}
	rec, err := store.Get(context.Background(), "x")
	if err != nil || rec.Status != saga.StatusCompleted || rec.Steps[1].Attempts != 2 {
		t.Fatalf("record = %+v, %v", rec, err)
	}
}

func TestRecoverCompensatePolicy(t *testing.T) {
	j := &journal{}
	store := saga.NewMemoryStore()
	b := strandsHere(step(j, "b", 0, nil))
	b.OnRecover = saga.RecoverCompensate
	def := mustNew(t, step(j, "a", 0, nil), b, step(j, "c", 0, nil))
	strand(t, newOrchestrator(t, store, saga.WithOwnerID("n")), def, "y")
	o := newOrchestrator(t, store, saga.WithOwnerID("n"))
	if err := o.Register(def); err != nil {
		t.Fatal(err)
	}
	res, err := o.Recover(context.Background())
	if err != nil || res.Compensated != 1 {
		t.Fatalf("Recover = %+v, %v", res, err)
	}
	if got, want := j.list(), []string{"do a", "undo b", "undo a"}; !slices.Equal(got, want) {
		t.Errorf("journal = %q, want %q", got, want)
	}
	rec, _ := store.Get(context.Background(), "y")
	if rec.Status != saga.StatusCompensated || rec.Error == "" {
		t.Errorf("record = %+v", rec)
	}
}

func TestRecoverReportsUnknownSagas(t *testing.T) {
	store := saga.NewMemoryStore()
	def, _ := counting()
	strand(t, newOrchestrator(t, store, saga.WithOwnerID("n")), def, "z")
	o := newOrchestrator(t, store, saga.WithOwnerID("n"))
	if _, err := o.Recover(context.Background()); !errors.Is(err, saga.ErrUnknownSaga) {
		t.Fatalf("Recover without registering = %v", err)
	}
	rec, _ := store.Get(context.Background(), "z")
	if rec.Status != saga.StatusRunning {
		t.Errorf("status = %s, want it left running", rec.Status)
	}
}

func TestDeadlineHoldsAcrossRecover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := saga.NewMemoryStore()
		j := &journal{}
		b := strandsHere(step(j, "b", 0, nil))
		def := mustNew(t, step(j, "a", 0, nil), b)
		crashed := newOrchestrator(t, store, saga.WithOwnerID("n"))
		register(t, crashed, def)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := def.Run(context.WithValue(ctx, cancelKey{}, cancel), crashed, order{},
			saga.WithID("late"), saga.WithDeadline(time.Now().Add(time.Minute)))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("stranding: %v", err)
		}
		time.Sleep(2 * time.Minute) // the process was down past the deadline
		o := newOrchestrator(t, store, saga.WithOwnerID("n"))
		register(t, o, def)
		if res, err := o.Recover(context.Background()); err != nil || res.Compensated != 1 {
			t.Fatalf("Recover = %+v, %v", res, err)
		}
		// b was interrupted, so it may have taken effect: past the deadline it is
		// not run again but compensated (as in doubt), then a.
		if got, want := j.list(), []string{"do a", "undo b", "undo a"}; !slices.Equal(got, want) {
			t.Errorf("journal = %q, want %q", got, want)
		}
		rec, _ := store.Get(context.Background(), "late")
		if rec.Error != saga.ErrDeadlineExceeded.Error() {
			t.Errorf("cause = %q", rec.Error)
		}
	})
}

// TestRecoverTalliesConcurrentOutcomes mixes, in one Recover, a saga that a
// worker goroutine resumes and that fails (its record no longer matches the
// definition), a saga with no definition and one another live orchestrator
// holds, both handled by Recover's own loop while the worker runs: the
// errors and counts of both must be reported, under -race without a race.
func TestRecoverTalliesConcurrentOutcomes(t *testing.T) {
	ctx := context.Background()
	store := saga.NewMemoryStore()
	def, _ := counting()
	for _, r := range []saga.Record{
		{ID: "mismatch", Name: def.Name(), Status: saga.StatusRunning, Steps: []saga.StepRecord{{Name: "a", Status: saga.StepPending}}},
		{ID: "unknown", Name: "nobody-registered-this", Status: saga.StatusRunning},
		{ID: "held", Name: def.Name(), Status: saga.StatusRunning, Owner: "other", LeaseUntil: time.Now().Add(time.Hour)},
	} {
		if err := store.Create(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	o := newOrchestrator(t, store)
	if err := o.Register(def); err != nil {
		t.Fatal(err)
	}
	res, err := o.Recover(ctx)
	if !errors.Is(err, saga.ErrUnknownSaga) || !strings.Contains(err.Error(), "mismatch") || !strings.Contains(err.Error(), "unknown") {
		t.Fatalf("Recover = %v", err)
	}
	if res.Skipped != 1 || res.Resumed != 1 {
		t.Fatalf("result = %+v, want 1 skipped and 1 resumed", res)
	}
}
