package sagatest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
)

type state struct {
	Amount int      `json:"amount"`
	Done   []string `json:"done"`
}

// participants counts effects by idempotency key and journals them in
// order ("do <key>", "undo <key>").
type participants struct {
	mu      sync.Mutex
	done    map[string]int
	undone  map[string]int
	journal []string
}

func newParticipants() *participants {
	return &participants{done: map[string]int{}, undone: map[string]int{}}
}

func (p *participants) count(ctx context.Context, undo bool) {
	key, _ := saga.IdempotencyKeyFromContext(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if undo {
		p.undone[key]++
		p.journal = append(p.journal, "undo "+key)
		return
	}
	p.done[key]++
	p.journal = append(p.journal, "do "+key)
}

func (p *participants) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.journal...)
}

type strandKey struct{}

// behaviour is what a participant does for one step: before its effect
// (an error here means nothing happened) and after it (an error here
// means the effect happened but the reply was lost). Nil means succeed.
type behaviour struct {
	before, after, undo func(ctx context.Context) error
	retries             int // Execute's retries, at once
}

// definition returns the saga reserve, charge, ship whose step failAt is
// declined (NotApplied).
func (p *participants) definition(failAt string) *saga.Saga[state] {
	return p.sagaWith("conformance-"+failAt, map[string]behaviour{failAt: declined})
}

// sagaWith returns the saga reserve, charge, ship named name, whose steps
// behave as given (the others succeed). A step "dies" (cancels its run)
// when its context carries a strandKey.
func (p *participants) sagaWith(name string, behave map[string]behaviour) *saga.Saga[state] {
	call := func(f func(context.Context) error, ctx context.Context) error {
		if f == nil {
			return nil
		}
		return f(ctx)
	}
	step := func(name string) saga.Step[state] {
		b := behave[name]
		return saga.Step[state]{
			Name:  name,
			Retry: retry.Policy{MaxAttempts: 1 + b.retries, Backoff: retry.Backoff{Initial: time.Nanosecond, Jitter: retry.NoJitter}},
			Execute: func(ctx context.Context, s *state) error {
				if cancel, ok := ctx.Value(strandKey{}).(context.CancelFunc); ok && name == "charge" {
					cancel() // the process "dies" here
					return ctx.Err()
				}
				if err := call(b.before, ctx); err != nil {
					return err
				}
				p.count(ctx, false)
				s.Done = append(s.Done, name)
				return call(b.after, ctx)
			},
			Compensate: func(ctx context.Context, s *state) error {
				if err := call(b.undo, ctx); err != nil {
					return err
				}
				p.count(ctx, true)
				return nil
			},
		}
	}
	def, err := saga.New(name, step("reserve"), step("charge"), step("ship"))
	if err != nil {
		panic(err)
	}
	return def
}

// orchestrator returns an orchestrator over s with def registered, closed
// when the test ends.
func orchestrator(t testing.TB, s saga.Store, def saga.Definition, opts ...saga.Option) *saga.Orchestrator {
	t.Helper()
	// Compensation failures are logged at Error: expected here, kept quiet.
	opts = append([]saga.Option{saga.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	o, err := saga.NewOrchestrator(s, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close(context.Background()) })
	if err := o.Register(def); err != nil {
		t.Fatal(err)
	}
	return o
}

// expireLeases makes the leases of the sagas ids lapse, as if their owner
// had died long ago, through the store's own compare-and-swap: the suite
// runs against real databases, whose clocks a test does not control.
func expireLeases(t *testing.T, s saga.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		rec, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		rec.LeaseUntil = time.Now().Add(-time.Minute)
		if err := s.Update(context.Background(), rec); err != nil {
			t.Fatalf("expire the lease of %s: %v", id, err)
		}
	}
}

func testSagaCompletes(t *testing.T, s saga.Store) {
	p := newParticipants()
	def := p.definition("")
	o := orchestrator(t, s, def)
	got, err := def.Run(context.Background(), o, state{Amount: 10}, saga.WithID("ok"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Done) != 3 {
		t.Errorf("state = %+v", got)
	}
	rec, err := s.Get(context.Background(), "ok")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != saga.StatusCompleted || string(rec.State) != `{"amount":10,"done":["reserve","charge","ship"]}` {
		t.Errorf("record %s %s", rec.Status, rec.State)
	}
	if rec.Version != 4 {
		t.Errorf("a 3-step saga took %d writes, want 4", rec.Version)
	}
}

func testSagaCompensates(t *testing.T, s saga.Store) {
	p := newParticipants()
	def := p.definition("ship")
	o := orchestrator(t, s, def)
	_, err := def.Run(context.Background(), o, state{}, saga.WithID("ko"))
	if !errors.Is(err, saga.ErrCompensated) {
		t.Fatalf("Run = %v", err)
	}
	rec, err := s.Get(context.Background(), "ko")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != saga.StatusCompensated || rec.Steps[2].Status != saga.StepFailed {
		t.Errorf("record %+v", rec)
	}
	for _, key := range []string{"ko/reserve", "ko/charge"} {
		if p.done[key] != 1 || p.undone[key] != 1 {
			t.Errorf("%s done %d undone %d times, want once each", key, p.done[key], p.undone[key])
		}
	}
	// ship was declined (NotApplied): nothing to undo.
	if p.undone["ko/ship"] != 0 || rec.Steps[2].Seq != 0 || !rec.Steps[2].Failed {
		t.Errorf("declined step compensated %d times, record %+v", p.undone["ko/ship"], rec.Steps[2])
	}
}

// testRecoverTwoOrchestrators strands sagas mid-step, lets their lease
// lapse, and has two orchestrators recover them at once: each step must
// run once in all.
func testRecoverTwoOrchestrators(t *testing.T, s saga.Store) {
	const n = 12
	p := newParticipants()
	def := p.definition("")
	dead := orchestrator(t, s, def, saga.WithOwnerID("dead"))
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprint("s", i)
		ctx, cancel := context.WithCancel(context.Background())
		_, err := def.Run(context.WithValue(ctx, strandKey{}, cancel), dead, state{}, saga.WithID(ids[i]))
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("stranding: %v", err)
		}
	}
	results := make([]saga.RecoverResult, 2)
	orchestrators := []*saga.Orchestrator{
		orchestrator(t, s, def, saga.WithOwnerID("o0")),
		orchestrator(t, s, def, saga.WithOwnerID("o1")),
	}
	// The dead owner's leases have not lapsed: nobody may take over yet.
	if res, err := orchestrators[0].Recover(context.Background()); err != nil || res.Skipped != n || res.Resumed != 0 {
		t.Fatalf("Recover before the leases lapsed = %+v, %v; want all %d skipped", res, err, n)
	}
	expireLeases(t, s, ids...)
	var wg sync.WaitGroup
	for i, o := range orchestrators {
		wg.Go(func() {
			res, err := o.Recover(context.Background())
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		})
	}
	wg.Wait()
	if got := results[0].Completed + results[1].Completed; got != n {
		t.Errorf("recovered %+v and %+v, want %d completed in all", results[0], results[1], n)
	}
	for i := range n {
		for _, step := range []string{"reserve", "charge", "ship"} {
			if key := fmt.Sprintf("s%d/%s", i, step); p.done[key] != 1 {
				t.Errorf("%s ran %d times, want once", key, p.done[key])
			}
		}
	}
}
