package saga_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
)

// journal records what participants did, in order.
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	j.entries = append(j.entries, s)
	j.mu.Unlock()
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.entries)
}

type order struct {
	Items   []string `json:"items"`
	Charged int      `json:"charged"`
}

// step returns a step that journals "do name" and "undo name" and fails
// with err (if any) on its first failures attempts.
func step(j *journal, name string, failures int, err error) saga.Step[order] {
	var mu sync.Mutex
	calls := 0
	return saga.Step[order]{
		Name: name,
		Execute: func(ctx context.Context, o *order) error {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			if n <= failures {
				j.add("fail " + name)
				return err
			}
			j.add("do " + name)
			return nil
		},
		Compensate: func(ctx context.Context, o *order) error {
			j.add("undo " + name)
			return nil
		},
	}
}

// retries returns a policy of n retries that follow each failure at once.
func retries(n int) retry.Policy {
	return retry.Policy{MaxAttempts: 1 + n, Backoff: retry.Backoff{Initial: time.Nanosecond, Jitter: retry.NoJitter}}
}

func newOrchestrator(t *testing.T, store saga.Store, opts ...saga.Option) *saga.Orchestrator {
	t.Helper()
	o, err := saga.NewOrchestrator(store, append([]saga.Option{
		saga.WithCompensationRetry(retries(2)),
		saga.WithLogger(slog.New(slog.DiscardHandler)),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := o.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return o
}

func mustNew(t *testing.T, stages ...saga.Stage[order]) *saga.Saga[order] {
	t.Helper()
	s, err := saga.New("test", stages...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var errBoom = errors.New("boom")

// define returns a saga named "test" of stages, registered on o.
func define(t *testing.T, o *saga.Orchestrator, stages ...saga.Stage[order]) *saga.Saga[order] {
	t.Helper()
	s := mustNew(t, stages...)
	register(t, o, s)
	return s
}

// register registers defs on o.
func register(t *testing.T, o *saga.Orchestrator, defs ...saga.Definition) {
	t.Helper()
	if err := o.Register(defs...); err != nil {
		t.Fatal(err)
	}
}
