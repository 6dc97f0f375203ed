package saga_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
)

// clocked returns an Execute or Compensate that always fails and appends
// the bubble's time of each call, since start, to *at.
func clocked(mu *sync.Mutex, at *[]time.Duration, start time.Time) func(context.Context, *order) error {
	return func(context.Context, *order) error {
		mu.Lock()
		*at = append(*at, time.Since(start))
		mu.Unlock()
		return errBoom
	}
}

// TestStepRetryPolicy: a step's retry.Policy is honoured in process: its
// MaxAttempts bounds the attempts, which are persisted, its Backoff paces
// them, and its MaxElapsed ends them early.
func TestStepRetryPolicy(t *testing.T) {
	s := time.Second
	backoff := retry.Backoff{Initial: time.Second, Max: 4 * time.Second, Jitter: retry.NoJitter}
	for _, tt := range []struct {
		name   string
		policy retry.Policy
		want   []time.Duration // the start of each attempt
	}{
		{"max attempts and backoff", retry.Policy{MaxAttempts: 4, Backoff: backoff},
			[]time.Duration{0, s, 3 * s, 7 * s}},
		{"max elapsed", retry.Policy{MaxAttempts: -1, MaxElapsed: 10 * s, Backoff: backoff},
			[]time.Duration{0, s, 3 * s, 7 * s}}, // the next would start at 11s
		{"zero policy", retry.Policy{}, []time.Duration{0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := saga.NewMemoryStore()
				o := newOrchestrator(t, store)
				var mu sync.Mutex
				var at []time.Duration
				j := &journal{}
				b := step(j, "b", 0, nil)
				b.Execute = clocked(&mu, &at, time.Now())
				b.Retry = tt.policy
				_, err := define(t, o, step(j, "a", 0, nil), b).Run(context.Background(), o, order{}, saga.WithID("s"))
				if !errors.Is(err, saga.ErrCompensated) || !errors.Is(err, errBoom) {
					t.Fatalf("Run = %v, want compensated after %v", err, errBoom)
				}
				if !slices.Equal(at, tt.want) {
					t.Errorf("attempts started at %v, want %v", at, tt.want)
				}
				rec, err := store.Get(context.Background(), "s")
				if err != nil {
					t.Fatal(err)
				}
				if got := rec.Steps[1].Attempts; got != len(tt.want) {
					t.Errorf("persisted attempts = %d, want %d", got, len(tt.want))
				}
			})
		})
	}
}

// TestCompensationRetryPolicy: the orchestrator's compensation policy, or
// a step's CompensateRetry in its place, bounds and paces the attempts of
// a failing compensation before the saga ends CompensationFailed.
func TestCompensationRetryPolicy(t *testing.T) {
	s := time.Second
	orchestrators := retry.Policy{MaxAttempts: 3, Backoff: retry.Backoff{Initial: 2 * s, Multiplier: 1, Jitter: retry.NoJitter}}
	steps := retry.Policy{MaxAttempts: 2, Backoff: retry.Backoff{Initial: 5 * s, Jitter: retry.NoJitter}}
	for _, tt := range []struct {
		name string
		step *retry.Policy
		want []time.Duration
	}{
		{"orchestrator's", nil, []time.Duration{0, 2 * s, 4 * s}},
		{"step's", &steps, []time.Duration{0, 5 * s}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				o := newOrchestrator(t, saga.NewMemoryStore(), saga.WithCompensationRetry(orchestrators))
				var mu sync.Mutex
				var at []time.Duration
				j := &journal{}
				a := step(j, "a", 0, nil)
				a.Compensate = clocked(&mu, &at, time.Now())
				a.CompensateRetry = tt.step
				_, err := define(t, o, a, step(j, "b", 1, retry.Permanent(errBoom))).Run(context.Background(), o, order{})
				if !errors.Is(err, saga.ErrCompensationFailed) {
					t.Fatalf("Run = %v, want ErrCompensationFailed", err)
				}
				if !slices.Equal(at, tt.want) {
					t.Errorf("compensations started at %v, want %v", at, tt.want)
				}
			})
		})
	}
}

// TestInvalidRetryPolicy: New and WithCompensationRetry refuse a policy
// that retry.Policy.Validate rejects, with both packages' ErrInvalidOption.
func TestInvalidRetryPolicy(t *testing.T) {
	forever := retry.Policy{MaxAttempts: -1}
	j := &journal{}
	a := step(j, "a", 0, nil)
	a.Retry = forever
	if _, err := saga.New("test", a); !errors.Is(err, saga.ErrInvalidOption) || !errors.Is(err, retry.ErrInvalidOption) {
		t.Errorf("New with Retry %+v = %v", forever, err)
	}
	a = step(j, "a", 0, nil)
	a.CompensateRetry = &forever
	if _, err := saga.New("test", a); !errors.Is(err, saga.ErrInvalidOption) || !errors.Is(err, retry.ErrInvalidOption) {
		t.Errorf("New with CompensateRetry %+v = %v", forever, err)
	}
	_, err := saga.NewOrchestrator(saga.NewMemoryStore(), saga.WithCompensationRetry(retry.Policy{MaxElapsed: -time.Second}))
	if !errors.Is(err, saga.ErrInvalidOption) || !errors.Is(err, retry.ErrInvalidOption) {
		t.Errorf("WithCompensationRetry of a negative MaxElapsed = %v", err)
	}
}
