package saga_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
)

func TestIdempotencyKeyInContext(t *testing.T) {
	var keys []string
	record := func(ctx context.Context, _ *order) error {
		k, ok := saga.IdempotencyKeyFromContext(ctx)
		id, _ := saga.IDFromContext(ctx)
		if !ok || !strings.HasPrefix(k, id+"/") {
			return retry.Permanent(errors.New("no key"))
		}
		keys = append(keys, k)
		return nil
	}
	o := newOrchestrator(t, saga.NewMemoryStore())
	s := define(t, o, saga.Step[order]{Name: "reserve", Execute: record}, saga.Step[order]{Name: "charge", Execute: record})
	if _, err := s.Run(context.Background(), o, order{}, saga.WithID("order-7")); err != nil {
		t.Fatal(err)
	}
	if want := []string{"order-7/reserve", "order-7/charge"}; !slices.Equal(keys, want) {
		t.Errorf("keys = %q, want %q", keys, want)
	}
	if _, ok := saga.IdempotencyKeyFromContext(context.Background()); ok {
		t.Error("IdempotencyKeyFromContext outside a step reported ok")
	}
	if _, ok := saga.IDFromContext(context.Background()); ok {
		t.Error("IDFromContext outside a step reported ok")
	}
}

func TestInvalidDefinitionsAndOptions(t *testing.T) {
	exec := func(context.Context, *order) error { return nil }
	defs := map[string][]saga.Stage[order]{
		"no steps":       nil,
		"unnamed step":   {saga.Step[order]{Execute: exec}},
		"no execute":     {saga.Step[order]{Name: "a"}},
		"repeated name":  {saga.Step[order]{Name: "a", Execute: exec}, saga.Step[order]{Name: "a", Execute: exec}},
		"empty parallel": {saga.Parallel[order]()},
		"neg timeout":    {saga.Step[order]{Name: "a", Execute: exec, Timeout: -1}},
	}
	for name, stages := range defs {
		if _, err := saga.New("x", stages...); !errors.Is(err, saga.ErrInvalidOption) {
			t.Errorf("%s: New = %v, want ErrInvalidOption", name, err)
		}
	}
	opts := map[string]saga.Option{
		"empty owner":    saga.WithOwnerID(""),
		"zero lease":     saga.WithLease(0),
		"no concurrency": saga.WithRecoverConcurrency(0),
	}
	for name, opt := range opts {
		if _, err := saga.NewOrchestrator(saga.NewMemoryStore(), opt); !errors.Is(err, saga.ErrInvalidOption) {
			t.Errorf("%s: NewOrchestrator = %v, want ErrInvalidOption", name, err)
		}
	}
	o := newOrchestrator(t, saga.NewMemoryStore())
	a, b := mustNew(t, saga.Step[order]{Name: "a", Execute: exec}), mustNew(t, saga.Step[order]{Name: "a", Execute: exec})
	if err := o.Register(a); err != nil {
		t.Fatal(err)
	}
	if err := o.Register(b); !errors.Is(err, saga.ErrInvalidOption) {
		t.Errorf("registering a second saga named test = %v", err)
	}
}

// TestNilOptionsMeanDefaults: a nil logger, tracer or listener is
// the default, even after a non-nil one: the orchestrator runs and the nil
// listener is skipped. Without WithCompensationRetry, compensations get the
// default policy (minutes of backoff, in a bubble).
func TestNilOptionsMeanDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ev := &events{}
		o, err := saga.NewOrchestrator(saga.NewMemoryStore(), saga.WithListener(ev), saga.WithListener(nil),
			saga.WithLogger(slog.New(slog.DiscardHandler)), saga.WithLogger(nil), saga.WithTracer(nil))
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close(context.Background())
		j := &journal{}
		a := step(j, "a", 0, nil)
		undoFailures := 0
		a.Compensate = func(context.Context, *order) error {
			if undoFailures < 5 {
				undoFailures++
				return errBoom
			}
			j.add("undo a")
			return nil
		}
		_, err = define(t, o, a, step(j, "b", 1, retry.Permanent(errBoom))).Run(context.Background(), o, order{})
		if !errors.Is(err, saga.ErrCompensated) {
			t.Fatalf("Run = %v, want compensated after 5 failed compensations within the default policy", err)
		}
		if got, want := j.list(), []string{"do a", "fail b", "undo b", "undo a"}; !slices.Equal(got, want) {
			t.Errorf("journal = %q, want %q", got, want)
		}
		if kinds := ev.kinds(); len(kinds) == 0 || kinds[len(kinds)-1] != saga.EventCompensated {
			t.Errorf("listener saw %v, want the saga's events ending with %v", kinds, saga.EventCompensated)
		}
	})
}

// TestRunNeedsRegistration: Run starts only a saga registered on the
// orchestrator, so that every saga it starts is one Recover can continue
// after a restart; a saga not registered, or a different definition under
// a registered name, starts nothing and fails with ErrUnknownSaga.
func TestRunNeedsRegistration(t *testing.T) {
	store := saga.NewMemoryStore()
	o := newOrchestrator(t, store)
	j := &journal{}
	unregistered := mustNew(t, step(j, "a", 0, nil))
	_, err := unregistered.Run(context.Background(), o, order{}, saga.WithID("first"))
	if !errors.Is(err, saga.ErrUnknownSaga) || !strings.Contains(err.Error(), "Register") {
		t.Fatalf("Run of an unregistered saga = %v, want ErrUnknownSaga telling to register it", err)
	}
	registered := define(t, o, step(j, "b", 0, nil))
	_, err = unregistered.Run(context.Background(), o, order{}, saga.WithID("second"))
	if !errors.Is(err, saga.ErrUnknownSaga) {
		t.Fatalf("Run of a saga whose name another definition holds = %v, want ErrUnknownSaga", err)
	}
	if got := j.list(); len(got) != 0 {
		t.Errorf("journal = %q, want no step run", got)
	}
	for _, id := range []string{"first", "second"} {
		if _, err := store.Get(context.Background(), id); !errors.Is(err, saga.ErrNotFound) {
			t.Errorf("Get(%s) = %v, want ErrNotFound: nothing was started", id, err)
		}
	}
	if _, err := registered.Run(context.Background(), o, order{}, saga.WithID("third")); err != nil {
		t.Fatalf("Run of the registered saga = %v", err)
	}
	if got := j.list(); !slices.Equal(got, []string{"do b"}) {
		t.Errorf("journal = %q, want the registered saga's step", got)
	}
}

func TestClosedOrchestratorRefusesWork(t *testing.T) {
	o, err := saga.NewOrchestrator(saga.NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if err := o.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	j := &journal{}
	if _, err := define(t, o, step(j, "a", 0, nil)).Run(context.Background(), o, order{}); !errors.Is(err, saga.ErrClosed) {
		t.Errorf("Run after Close = %v", err)
	}
	if _, err := o.Recover(context.Background()); !errors.Is(err, saga.ErrClosed) {
		t.Errorf("Recover after Close = %v", err)
	}
}

// TestTinyLeaseDoesNotPanic checks that a positive lease too short to
// divide into renewal periods is accepted, not a panic of the lease
// keeper's ticker.
func TestTinyLeaseDoesNotPanic(t *testing.T) {
	o, err := saga.NewOrchestrator(saga.NewMemoryStore(), saga.WithLease(time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
