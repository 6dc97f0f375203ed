package saga_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
)

// stepTimes are a step record's times as offsets from the saga's start;
// notYet stands for a zero time.
type stepTimes struct{ started, ended, compStarted, compEnded time.Duration }

const notYet = time.Duration(-1)

// timesOf returns the times of the steps of rec, from t0.
func timesOf(rec *saga.Record, t0 time.Time) map[string]stepTimes {
	off := func(t time.Time) time.Duration {
		if t.IsZero() {
			return notYet
		}
		return t.Sub(t0)
	}
	out := map[string]stepTimes{}
	for _, sr := range rec.Steps {
		out[sr.Name] = stepTimes{off(sr.StartedAt), off(sr.EndedAt), off(sr.CompensateStartedAt), off(sr.CompensateEndedAt)}
	}
	return out
}

// slow returns a step function whose calls each take d and return errs in
// turn, then nil.
func slow(d time.Duration, errs ...error) func(context.Context, *order) error {
	calls := 0
	return func(ctx context.Context, _ *order) error {
		time.Sleep(d)
		calls++
		if calls <= len(errs) {
			return errs[calls-1]
		}
		return nil
	}
}

// waits returns a policy of one retry after d.
func waits(d time.Duration) retry.Policy {
	return retry.Policy{MaxAttempts: 2, Backoff: retry.Backoff{Initial: d, Jitter: retry.NoJitter}}
}

// TestStepTimes: a saga's record tells when each step's last execution
// and last compensation began and ended, by the orchestrator's clock,
// through the writes the saga makes anyway. Steps take fake time in a
// synctest bubble, so the times are exact.
func TestStepTimes(t *testing.T) {
	s := time.Second
	tests := []struct {
		name   string
		stages func() []saga.Stage[order]
		status saga.Status
		writes int // as without the times
		want   map[string]stepTimes
	}{{
		name: "completed, a step retried",
		stages: func() []saga.Stage[order] {
			return []saga.Stage[order]{
				saga.Step[order]{Name: "reserve", Execute: slow(1 * s)},
				// Fails after 2s, waits 5s, succeeds after 2s: one execution.
				saga.Step[order]{Name: "charge", Execute: slow(2*s, errBoom), Retry: waits(5 * s)},
				saga.Step[order]{Name: "ship", Execute: slow(4 * s)},
			}
		},
		status: saga.StatusCompleted,
		writes: 5, // each step's start (charge's twice), then completed
		want: map[string]stepTimes{
			"reserve": {0, 1 * s, notYet, notYet},
			"charge":  {1 * s, 10 * s, notYet, notYet},
			"ship":    {10 * s, 14 * s, notYet, notYet},
		},
	}, {
		name: "compensated, a compensation retried",
		stages: func() []saga.Stage[order] {
			return []saga.Stage[order]{
				saga.Step[order]{Name: "reserve", Execute: slow(1 * s), Compensate: slow(2 * s)},
				// Fails for good after 3s, in doubt: compensated first, by a
				// compensation that fails after 1s, waits 10s, then takes 1s.
				saga.Step[order]{Name: "charge", Execute: slow(3*s, errBoom), Compensate: slow(1*s, errBoom)},
				saga.Step[order]{Name: "ship", Execute: slow(4 * s), Compensate: slow(1 * s)},
			}
		},
		status: saga.StatusCompensated,
		writes: 6, // reserve's and charge's starts, charge's compensation twice, reserve's, compensated
		want: map[string]stepTimes{
			"reserve": {0, 1 * s, 16 * s, 18 * s},
			"charge":  {1 * s, 4 * s, 4 * s, 16 * s},
			"ship":    {notYet, notYet, notYet, notYet},
		},
	}, {
		name: "a Local step, then a parallel group",
		stages: func() []saga.Stage[order] {
			return []saga.Stage[order]{
				saga.Step[order]{Name: "order", Execute: slow(1 * s), Local: true},
				saga.Step[order]{Name: "reserve", Execute: slow(2 * s)},
				saga.Parallel(
					saga.Step[order]{Name: "mail", Execute: slow(3 * s)},
					saga.Step[order]{Name: "invoice", Execute: slow(5 * s)},
				),
			}
		},
		status: saga.StatusCompleted,
		writes: 3, // order done with reserve started, the group started, completed
		want: map[string]stepTimes{
			"order":   {0, 1 * s, notYet, notYet},
			"reserve": {1 * s, 3 * s, notYet, notYet}, // started by order's write
			"mail":    {3 * s, 6 * s, notYet, notYet},
			"invoice": {3 * s, 8 * s, notYet, notYet},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				store := &countingStore{MemoryStore: saga.NewMemoryStore()}
				// A lease longer than the saga: no renewal writes.
				o := newOrchestrator(t, store, saga.WithLease(time.Hour),
					saga.WithCompensationRetry(waits(10*time.Second)))
				def := define(t, o, tt.stages()...)
				t0 := time.Now()
				_, err := def.Run(ctx, o, order{}, saga.WithID("timed"))
				if tt.status == saga.StatusCompleted && err != nil || tt.status != saga.StatusCompleted && !errors.Is(err, saga.ErrCompensated) {
					t.Fatalf("Run = %v, want the saga %s", err, tt.status)
				}
				if n := store.taken(); n != tt.writes {
					t.Errorf("%d store writes, want %d", n, tt.writes)
				}
				rec, err := store.Get(ctx, "timed")
				if err != nil {
					t.Fatal(err)
				}
				if rec.Status != tt.status {
					t.Fatalf("status %s, want %s", rec.Status, tt.status)
				}
				for name, got := range timesOf(rec, t0) {
					if want := tt.want[name]; got != want {
						t.Errorf("step %s: times %v, want %v", name, got, want)
					}
				}
			})
		})
	}
}

// TestStepTimesOfRecoveredStep: a step interrupted mid-execution keeps
// its start and no end; the Recover that runs it again records its own
// execution's start and end.
func TestStepTimesOfRecoveredStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := saga.NewMemoryStore()
		o := newOrchestrator(t, store, saga.WithOwnerID("o1"), saga.WithLease(time.Hour))
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		def := define(t, o, saga.Step[order]{Name: "charge", Execute: func(ctx context.Context, _ *order) error {
			calls++
			if calls == 1 { // the first execution is interrupted after 2s
				time.Sleep(2 * time.Second)
				cancel()
				return ctx.Err()
			}
			time.Sleep(3 * time.Second)
			return nil
		}})
		t0 := time.Now()
		if _, err := def.Run(ctx, o, order{}, saga.WithID("interrupted")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want it interrupted", err)
		}
		rec, err := store.Get(context.Background(), "interrupted")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := timesOf(rec, t0)["charge"], (stepTimes{0, notYet, notYet, notYet}); got != want {
			t.Errorf("interrupted step: times %v, want %v", got, want)
		}
		time.Sleep(time.Minute)
		if res, err := o.Recover(context.Background()); err != nil || res.Completed != 1 {
			t.Fatalf("Recover = %+v, %v", res, err)
		}
		rec, _ = store.Get(context.Background(), "interrupted")
		if got, want := timesOf(rec, t0)["charge"], (stepTimes{62 * time.Second, 65 * time.Second, notYet, notYet}); got != want {
			t.Errorf("recovered step: times %v, want %v", got, want)
		}
	})
}
