package discovery_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/discovery"
)

// answerRegistry answers every watch with the complete set last given to
// answer: each call is one answer, as a restarted agent's empty catalog
// is, however fast the watcher reads.
type answerRegistry struct {
	mu      sync.Mutex
	set     []discovery.Instance
	changed chan struct{} // closed and replaced on each answer
}

func newAnswerRegistry(set ...discovery.Instance) *answerRegistry {
	return &answerRegistry{set: set, changed: make(chan struct{})}
}

func (a *answerRegistry) answer(set ...discovery.Instance) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.set = set
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *answerRegistry) Instances(context.Context, string) ([]discovery.Instance, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.set), nil
}

func (a *answerRegistry) Watch(context.Context, string) (discovery.Watcher, error) {
	return &answerWatcher{reg: a}, nil
}

type answerWatcher struct {
	reg  *answerRegistry
	wait chan struct{} // nil before the first answer
}

func (w *answerWatcher) Next(ctx context.Context) ([]discovery.Instance, error) {
	if w.wait != nil {
		select {
		case <-w.wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	w.reg.mu.Lock()
	defer w.reg.mu.Unlock()
	w.wait = w.reg.changed
	return slices.Clone(w.reg.set), nil
}

func (w *answerWatcher) Close() error { return nil }

// first returns the first n instances of svc.
func first(n int) []discovery.Instance {
	var out []discovery.Instance
	for i := range n {
		out = append(out, inst("svc", i))
	}
	return out
}

func TestPanicThreshold(t *testing.T) {
	tests := []struct {
		name        string
		policy      discovery.PanicPolicy
		from, to    int
		wantSuspect bool
	}{
		{"empty is suspect", discovery.PanicPolicy{}, 1, 0, true},
		{"empty from many is suspect", discovery.PanicPolicy{}, 4, 0, true},
		{"below half is suspect", discovery.PanicPolicy{}, 4, 1, true},
		{"half is a scale-down", discovery.PanicPolicy{}, 4, 2, false},
		{"one of two is a scale-down", discovery.PanicPolicy{}, 2, 1, false},
		{"a higher threshold doubts more", discovery.PanicPolicy{ThresholdPercent: 80}, 5, 3, true},
		{"at the threshold is taken", discovery.PanicPolicy{ThresholdPercent: 80}, 5, 4, false},
		{"off takes even the empty set", discovery.PanicPolicy{Off: true}, 3, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				reg := newAnswerRegistry(first(tt.from)...)
				r := newResolver(t, reg, discovery.WithPanicPolicy(tt.policy))
				pickID(t, r, "svc")
				reg.answer(first(tt.to)...)
				synctest.Wait()
				st := r.Status("svc")
				if tt.wantSuspect {
					if !st.Stale || st.HeldUntil.IsZero() || len(st.Instances) != tt.from {
						t.Fatalf("%d -> %d: status %+v, want the %d known instances held, stale", tt.from, tt.to, st, tt.from)
					}
					return
				}
				if st.Stale || !st.HeldUntil.IsZero() || len(st.Instances) != tt.to {
					t.Fatalf("%d -> %d: status %+v, want the answer taken", tt.from, tt.to, st)
				}
			})
		})
	}
}

// A registry that suddenly answers empty (an agent restarted empty) does
// not empty the resolver: it serves the last known set, says it is stale,
// takes a recovered answer at once, and takes the empty set only when the
// grace period ends.
func TestResolverHoldsSuspectAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reg := newAnswerRegistry(first(3)...)
		ev := &events{}
		const grace = 10 * time.Second
		r := newResolver(t, reg, discovery.WithListener(ev), discovery.WithPanicPolicy(discovery.PanicPolicy{Grace: grace}))
		pickID(t, r, "svc")

		reg.answer() // the registry forgets everything
		synctest.Wait()
		start := time.Now()
		st := r.Status("svc")
		if !st.Stale || !st.HeldUntil.Equal(start.Add(grace)) || len(st.Instances) != 3 {
			t.Fatalf("after the empty answer: %+v", st)
		}
		if e, _ := ev.served("svc"); e.Kind != discovery.EventHeld || !e.Stale || e.Instances != 3 {
			t.Errorf("last event while holding: %+v", e)
		}
		for range 6 {
			if id := pickID(t, r, "svc"); !slices.Contains([]string{"svc-a", "svc-b", "svc-c"}, id) {
				t.Fatalf("picked %s", id)
			}
		}

		// One instance registers again: 1 of 3 is still suspect, and it is
		// served along with the known set.
		reg.answer(inst("svc", 3))
		synctest.Wait()
		if st := r.Status("svc"); !st.Stale || !slices.Equal(ids(st.Instances), []string{"svc-a", "svc-b", "svc-c", "svc-d"}) || !st.HeldUntil.Equal(start.Add(grace)) {
			t.Fatalf("after a near-empty answer: %+v", st)
		}
		// Two of three back: taken at once, the hold ends.
		reg.answer(inst("svc", 0), inst("svc", 1), inst("svc", 3))
		synctest.Wait()
		if st := r.Status("svc"); st.Stale || !st.HeldUntil.IsZero() || !slices.Equal(ids(st.Instances), []string{"svc-a", "svc-b", "svc-d"}) {
			t.Fatalf("after the recovery: %+v", st)
		}
		if e, _ := ev.served("svc"); e.Kind != discovery.EventUpdated || e.Stale || e.Instances != 3 {
			t.Errorf("last event after the recovery: %+v", e)
		}

		// Empty again, for good this time: held for the grace period, then
		// taken, with no Pick or answer needed to end it.
		reg.answer()
		synctest.Wait()
		time.Sleep(grace - time.Millisecond)
		synctest.Wait()
		if st := r.Status("svc"); !st.Stale || len(st.Instances) != 3 {
			t.Fatalf("just before the grace period ends: %+v", st)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if e, _ := ev.served("svc"); e.Kind != discovery.EventUpdated || e.Stale || e.Instances != 0 {
			t.Errorf("last event once the grace period ended: %+v", e)
		}
		if st := r.Status("svc"); st.Stale || len(st.Instances) != 0 || !st.HeldUntil.IsZero() {
			t.Fatalf("after the grace period: %+v", st)
		}
		if _, err := r.Pick(ctx, "svc"); !errors.Is(err, discovery.ErrNoInstances) {
			t.Fatalf("Pick after the grace period: %v", err)
		}
	})
}

func TestPanicPolicyValidation(t *testing.T) {
	for _, p := range []discovery.PanicPolicy{{ThresholdPercent: -1}, {ThresholdPercent: 101}, {Grace: -time.Second}} {
		if _, err := discovery.NewResolver(memoryWith(t, nil), discovery.WithPanicPolicy(p)); !errors.Is(err, discovery.ErrInvalidOption) {
			t.Errorf("%+v: %v, want ErrInvalidOption", p, err)
		}
	}
}

// No instance to pick is "not sent" for a breaker: a service that is
// starting or re-registering must not trip its callers' breakers.
func TestNoInstancesIsNotSentForBreakers(t *testing.T) {
	r := newResolver(t, memoryWith(t, nil))
	_, err := r.Pick(context.Background(), "nobody")
	if !errors.Is(err, discovery.ErrNoInstances) || !errors.Is(err, breaker.ErrNotSent) {
		t.Fatalf("Pick of an empty service: %v", err)
	}
	if got := breaker.DefaultClassifier(err); got != breaker.Ignored {
		t.Fatalf("DefaultClassifier = %v, want ignored", got)
	}
}
