package saga_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
)

var errCrash = errors.New("process crashed")

// crashStore wraps a store to play a process that dies: after kill, or at
// a chosen write, every call fails, as if the process were gone.
type crashStore struct {
	saga.Store
	mu      sync.Mutex
	dead    bool
	writes  int
	crashAt int  // the write that crashes; 0 for none
	after   bool // crash after the write took effect, not before
}

func (c *crashStore) kill() {
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
}

func (c *crashStore) write(f func() error) error {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return errCrash
	}
	c.writes++
	crash := c.writes == c.crashAt
	if crash && !c.after {
		c.dead = true
		c.mu.Unlock()
		return errCrash
	}
	c.mu.Unlock()
	err := f()
	if crash {
		c.kill()
		return errCrash
	}
	return err
}

func (c *crashStore) alive() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return errCrash
	}
	return nil
}

func (c *crashStore) Create(ctx context.Context, r *saga.Record) error {
	return c.write(func() error { return c.Store.Create(ctx, r) })
}

func (c *crashStore) Update(ctx context.Context, r *saga.Record) error {
	return c.write(func() error { return c.Store.Update(ctx, r) })
}

func (c *crashStore) Get(ctx context.Context, id string) (*saga.Record, error) {
	if err := c.alive(); err != nil {
		return nil, err
	}
	return c.Store.Get(ctx, id)
}

func (c *crashStore) List(ctx context.Context, f saga.Filter) ([]*saga.Record, error) {
	if err := c.alive(); err != nil {
		return nil, err
	}
	return c.Store.List(ctx, f)
}

// ledger is the participants' own record of effects, deduplicated by
// idempotency key as a real participant would.
type ledger struct {
	mu       sync.Mutex
	done     map[string]bool
	undone   map[string]bool
	executed int // Execute calls, repeats included
}

func newLedger() *ledger { return &ledger{done: map[string]bool{}, undone: map[string]bool{}} }

// crashPoint is where inside a step the process dies in one life.
type crashPoint struct {
	step       string
	compensate bool
	after      bool // after the effect took place
}

// world is one saga's participants across process lives.
type world struct {
	ledger *ledger
	mu     sync.Mutex
	store  *crashStore // the current life's
	point  *crashPoint
}

func (w *world) maybeCrash(step string, compensate, after bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p := w.point; p != nil && p.step == step && p.compensate == compensate && p.after == after {
		w.point = nil
		w.store.kill()
		return true
	}
	return false
}

func (w *world) step(name string, fails bool, policy saga.RecoverPolicy) saga.Step[order] {
	return saga.Step[order]{
		Name:      name,
		OnRecover: policy,
		Execute: func(ctx context.Context, _ *order) error {
			key, _ := saga.IdempotencyKeyFromContext(ctx)
			if w.maybeCrash(name, false, false) {
				return errCrash
			}
			if fails {
				return retry.Permanent(errBoom)
			}
			w.ledger.mu.Lock()
			w.ledger.done[key] = true
			w.ledger.executed++
			w.ledger.mu.Unlock()
			if w.maybeCrash(name, false, true) {
				return errCrash
			}
			return nil
		},
		Compensate: func(ctx context.Context, _ *order) error {
			key, _ := saga.IdempotencyKeyFromContext(ctx)
			if w.maybeCrash(name, true, false) {
				return errCrash
			}
			w.ledger.mu.Lock()
			w.ledger.undone[key] = true
			w.ledger.mu.Unlock()
			if w.maybeCrash(name, true, true) {
				return errCrash
			}
			return nil
		},
	}
}

// TestPropertyCrashAnywhere runs random sagas that crash at random points
// (before or after any store write, before or after any participant's
// effect, up to three times) and recovers them in a new orchestrator each
// time; the participants' own ledger must show every saga completed with
// every step done, or compensated with every done step undone.
func TestPropertyCrashAnywhere(t *testing.T) {
	totalRepeats, outcomes := 0, map[saga.Status]int{}
	for seed := range 400 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		w := &world{ledger: newLedger()}
		n := 1 + rng.IntN(4)
		failing := rng.IntN(n + 2) // >= n: no step fails
		var steps []saga.Step[order]
		for i := range n {
			steps = append(steps, w.step(fmt.Sprintf("s%d", i), i == failing, saga.RecoverPolicy(rng.IntN(2))))
		}
		var stages []saga.Stage[order]
		if n >= 3 && rng.IntN(2) == 0 {
			stages = []saga.Stage[order]{steps[0], saga.Parallel(steps[1:3]...)}
			for _, s := range steps[3:] {
				stages = append(stages, s)
			}
		} else {
			for _, s := range steps {
				stages = append(stages, s)
			}
		}
		def := mustNew(t, stages...)
		inner := saga.NewMemoryStore()
		crashes := rng.IntN(4)
		for life := 0; ; life++ {
			cs := &crashStore{Store: inner}
			w.mu.Lock()
			w.store, w.point = cs, nil
			if life < crashes {
				if rng.IntN(2) == 0 {
					cs.crashAt, cs.after = 1+rng.IntN(2*n+2), rng.IntN(2) == 0
				} else {
					w.point = &crashPoint{step: fmt.Sprintf("s%d", rng.IntN(n)), compensate: rng.IntN(2) == 0, after: rng.IntN(2) == 0}
				}
			}
			w.mu.Unlock()
			o, err := saga.NewOrchestrator(cs, saga.WithOwnerID("node"), saga.WithCompensationRetry(retries(1)))
			if err != nil {
				t.Fatal(err)
			}
			if err = o.Register(def); err == nil {
				if life == 0 {
					_, err = def.Run(context.Background(), o, order{}, saga.WithID("s"))
				} else {
					_, err = o.Recover(context.Background())
				}
			}
			if cerr := o.Close(context.Background()); cerr != nil {
				t.Fatal(cerr)
			}
			if cs.alive() == nil {
				if err != nil && !errors.Is(err, saga.ErrCompensated) {
					t.Fatalf("seed %d life %d: %v", seed, life, err)
				}
				break
			}
			if life > 10 {
				t.Fatalf("seed %d: still crashing after %d lives", seed, life)
			}
		}
		rec, err := inner.Get(context.Background(), "s")
		l := w.ledger
		if errors.Is(err, saga.ErrNotFound) {
			if len(l.done)+len(l.undone) != 0 {
				t.Fatalf("seed %d: saga never created but ledger has %v %v", seed, l.done, l.undone)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		totalRepeats += l.executed - len(l.done)
		outcomes[rec.Status]++
		switch rec.Status {
		case saga.StatusCompleted:
			if len(l.done) != n || len(l.undone) != 0 || failing < n {
				t.Fatalf("seed %d: completed, ledger done=%v undone=%v", seed, l.done, l.undone)
			}
		case saga.StatusCompensated:
			for key := range l.done {
				if !l.undone[key] {
					t.Fatalf("seed %d: compensated but %s not undone (done=%v undone=%v)", seed, key, l.done, l.undone)
				}
			}
		default:
			t.Fatalf("seed %d: saga ended %s", seed, rec.Status)
		}
	}
	t.Logf("outcomes %v, %d repeated executions", outcomes, totalRepeats)
	if totalRepeats == 0 {
		t.Error("no step ever ran twice: the crashes did not hit inside steps")
	}
}
