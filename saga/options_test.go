package saga_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
)

func TestIdempotencyKeyInContext(t *testing.T) {
	var keys []string
	record := func(ctx context.Context, _ *order) error {
		k, ok := saga.IdempotencyKey(ctx)
		id, _ := saga.SagaID(ctx)
		if !ok || !strings.HasPrefix(k, id+"/") {
			return retry.Permanent(errors.New("no key"))
		}
		keys = append(keys, k)
		return nil
	}
	o := newOrchestrator(t, saga.NewMemoryStore())
	s := mustNew(t, saga.Step[order]{Name: "reserve", Execute: record}, saga.Step[order]{Name: "charge", Execute: record})
	if _, err := s.Run(context.Background(), o, order{}, saga.WithID("order-7")); err != nil {
		t.Fatal(err)
	}
	if want := []string{"order-7/reserve", "order-7/charge"}; !slices.Equal(keys, want) {
		t.Errorf("keys = %q, want %q", keys, want)
	}
	if _, ok := saga.IdempotencyKey(context.Background()); ok {
		t.Error("IdempotencyKey outside a step reported ok")
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
		"nil clock":      saga.WithClock(nil),
		"nil tracer":     saga.WithTracerProvider(nil),
		"nil listener":   saga.WithListener(nil),
		"nil logger":     saga.WithLogger(nil),
		"nil comp":       saga.WithCompensationRetry(nil),
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
	if _, err := mustNew(t, step(j, "a", 0, nil)).Run(context.Background(), o, order{}); !errors.Is(err, saga.ErrClosed) {
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
