package saga_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
)

// countingStore is a MemoryStore (a TxStore) that counts the writes of saga
// records; the business rows of local steps, records named "biz", are not
// counted.
type countingStore struct {
	*saga.MemoryStore
	mu     sync.Mutex
	writes int
}

func (c *countingStore) count(r *saga.Record, err error) error {
	if err == nil && r.Name != "biz" {
		c.mu.Lock()
		c.writes++
		c.mu.Unlock()
	}
	return err
}

func (c *countingStore) Create(ctx context.Context, r *saga.Record) error {
	return c.count(r, c.MemoryStore.Create(ctx, r))
}

func (c *countingStore) Update(ctx context.Context, r *saga.Record) error {
	return c.count(r, c.MemoryStore.Update(ctx, r))
}

func (c *countingStore) taken() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.writes
	c.writes = 0
	return n
}

// bizRow writes, in the transaction in ctx, the business row of what:
// a record named "biz" with the ID "<what> <idempotency key>", so that it
// commits or rolls back with the saga's record.
func bizRow(ctx context.Context, s saga.Store, what string) error {
	key, _ := saga.IdempotencyKeyFromContext(ctx)
	return s.Create(ctx, &saga.Record{ID: what + " " + key, Name: "biz", Status: saga.StatusResolved})
}

// hasRow reports whether the business row of what for key committed.
func hasRow(t *testing.T, s saga.Store, what, key string) bool {
	t.Helper()
	_, err := s.Get(context.Background(), what+" "+key)
	if err != nil && !errors.Is(err, saga.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// local returns a Local step that journals like step and writes its
// business rows ("do" and "undo") in the store's transaction; it fails
// with err after writing, on its first failures attempts.
func local(j *journal, s saga.Store, name string, failures int, err error) saga.Step[order] {
	calls := 0 // Local steps of one saga run one at a time
	return saga.Step[order]{
		Name:  name,
		Local: true,
		Execute: func(ctx context.Context, o *order) error {
			if werr := bizRow(ctx, s, "do"); werr != nil {
				return werr
			}
			o.Items = append(o.Items, name)
			if calls++; calls <= failures {
				j.add("fail " + name)
				return err
			}
			j.add("do " + name)
			return nil
		},
		Compensate: func(ctx context.Context, o *order) error {
			if err := bizRow(ctx, s, "undo"); err != nil {
				return err
			}
			j.add("undo " + name)
			return nil
		},
	}
}

func record(t *testing.T, s saga.Store, id string) *saga.Record {
	t.Helper()
	r, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLocalStepsWritesPerRun(t *testing.T) {
	store := &countingStore{MemoryStore: saga.NewMemoryStore()}
	var j journal
	var events []saga.EventKind
	o := newOrchestrator(t, store, saga.WithListener(saga.ListenerFunc(func(_ context.Context, e saga.Event) {
		if e.Kind != saga.EventStepSucceeded {
			events = append(events, e.Kind)
		}
	})))
	def := define(t, o, local(&j, store, "order", 0, nil), step(&j, "reserve", 0, nil), step(&j, "charge", 0, nil), local(&j, store, "confirm", 0, nil))
	for _, id := range []string{"s1", "s2"} {
		events = nil
		if _, err := def.Run(context.Background(), o, order{}, saga.WithID(id)); err != nil {
			t.Fatal(err)
		}
		if n := store.taken(); n != 3 {
			t.Errorf("%s: %d store writes, want 3 (order with the create, one between the remote steps, confirm with the completion)", id, n)
		}
		rec := record(t, store, id)
		if rec.Status != saga.StatusCompleted || rec.Version != 3 {
			t.Errorf("%s: record %s at version %d", id, rec.Status, rec.Version)
		}
		for i, sr := range rec.Steps {
			if sr.Status != saga.StepDone || sr.Seq != i+1 || sr.Attempts != 1 {
				t.Errorf("%s: step %+v", id, sr)
			}
		}
		for _, key := range []string{id + "/order", id + "/confirm"} {
			if !hasRow(t, store, "do", key) {
				t.Errorf("the business row of %s did not commit", key)
			}
		}
		want := []saga.EventKind{saga.EventStepStarted, saga.EventStarted, saga.EventStepStarted, saga.EventStepStarted, saga.EventStepStarted, saga.EventCompleted}
		if !slices.Equal(events, want) {
			t.Errorf("%s: events %v, want %v", id, events, want)
		}
	}
}

func TestLocalStepFolds(t *testing.T) {
	var j journal
	tests := []struct {
		name   string
		stages func(s saga.Store) []saga.Stage[order]
		writes int
	}{
		{"remote only", func(saga.Store) []saga.Stage[order] {
			return []saga.Stage[order]{step(&j, "a", 0, nil), step(&j, "b", 0, nil), step(&j, "c", 0, nil)}
		}, 4},
		{"local first", func(s saga.Store) []saga.Stage[order] {
			return []saga.Stage[order]{local(&j, s, "a", 0, nil), step(&j, "b", 0, nil), step(&j, "c", 0, nil)}
		}, 3},
		{"local last", func(s saga.Store) []saga.Stage[order] {
			return []saga.Stage[order]{step(&j, "a", 0, nil), step(&j, "b", 0, nil), local(&j, s, "c", 0, nil)}
		}, 3},
		{"local then local", func(s saga.Store) []saga.Stage[order] {
			return []saga.Stage[order]{local(&j, s, "a", 0, nil), local(&j, s, "b", 0, nil), step(&j, "c", 0, nil)}
		}, 3},
		{"local then parallel", func(s saga.Store) []saga.Stage[order] {
			return []saga.Stage[order]{local(&j, s, "a", 0, nil), saga.Parallel(step(&j, "b", 0, nil), step(&j, "c", 0, nil))}
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &countingStore{MemoryStore: saga.NewMemoryStore()}
			o := newOrchestrator(t, store)
			def := define(t, o, tt.stages(store)...)
			if _, err := def.Run(context.Background(), o, order{}, saga.WithID("x")); err != nil {
				t.Fatal(err)
			}
			if n := store.taken(); n != tt.writes {
				t.Errorf("%d store writes, want %d", n, tt.writes)
			}
			if rec := record(t, store, "x"); rec.Status != saga.StatusCompleted {
				t.Errorf("status %s", rec.Status)
			}
		})
	}
}

func TestLocalStepErrorRollsBackAndRetries(t *testing.T) {
	store := saga.NewMemoryStore()
	var j journal
	o := newOrchestrator(t, store)
	first := local(&j, store, "order", 2, errBoom)
	first.Retry = retries(2)
	def := define(t, o, first, step(&j, "charge", 0, nil))
	if _, err := def.Run(context.Background(), o, order{}, saga.WithID("r")); err != nil {
		t.Fatal(err) // an attempt's business row not rolled back would fail the next with ErrDuplicate
	}
	if got, want := j.list(), []string{"fail order", "fail order", "do order", "do charge"}; !slices.Equal(got, want) {
		t.Errorf("journal %v, want %v", got, want)
	}
	rec := record(t, store, "r")
	if rec.Version != 2 || rec.Steps[0].Attempts != 3 || rec.Steps[0].Status != saga.StepDone || rec.Steps[0].Seq != 1 {
		t.Errorf("record at version %d, order %+v", rec.Version, rec.Steps[0])
	}
	if !hasRow(t, store, "do", "r/order") {
		t.Error("the successful attempt's row did not commit")
	}
}

func TestLocalStepFailsForGood(t *testing.T) {
	t.Run("after a remote step", func(t *testing.T) {
		store := saga.NewMemoryStore()
		var j journal
		o := newOrchestrator(t, store)
		confirm := local(&j, store, "confirm", 9, errBoom)
		confirm.Retry = retries(1)
		def := define(t, o, step(&j, "charge", 0, nil), confirm)
		_, err := def.Run(context.Background(), o, order{}, saga.WithID("f"))
		var ce *saga.CompensatedError
		if !errors.As(err, &ce) || ce.Step != "confirm" || !errors.Is(err, errBoom) {
			t.Fatalf("Run = %v, want compensated after confirm", err)
		}
		if got, want := j.list(), []string{"do charge", "fail confirm", "fail confirm", "undo charge"}; !slices.Equal(got, want) {
			t.Errorf("journal %v, want %v", got, want)
		}
		rec := record(t, store, "f")
		if sr := rec.Steps[1]; sr.Status != saga.StepFailed || !sr.Failed || sr.Seq != 0 || sr.Attempts != 2 {
			t.Errorf("confirm %+v, want failed, not in doubt, 2 attempts", sr)
		}
		if rec.Status != saga.StatusCompensated || hasRow(t, store, "do", "f/confirm") {
			t.Errorf("status %s; a rolled-back row committed: %v", rec.Status, hasRow(t, store, "do", "f/confirm"))
		}
	})
	t.Run("first, before the record exists", func(t *testing.T) {
		store := &countingStore{MemoryStore: saga.NewMemoryStore()}
		var j journal
		o := newOrchestrator(t, store)
		// It fails for good on its first call only.
		def := define(t, o, local(&j, store, "order", 1, retry.Permanent(errBoom)), step(&j, "charge", 0, nil))
		_, err := def.Run(context.Background(), o, order{}, saga.WithID("f"))
		if !errors.Is(err, saga.ErrCompensated) {
			t.Fatalf("Run = %v, want compensated", err)
		}
		// Its transaction rolled back, so the saga never started: nothing
		// is written, and the ID is free for the request's retry.
		if n := store.taken(); n != 0 {
			t.Errorf("%d writes, want none", n)
		}
		if _, err := store.Get(context.Background(), "f"); !errors.Is(err, saga.ErrNotFound) {
			t.Fatalf("Get = %v, want ErrNotFound", err)
		}
		if _, err := def.Run(context.Background(), o, order{}, saga.WithID("f")); err != nil {
			t.Fatalf("the retry under the same ID: %v", err)
		}
		if got, want := j.list(), []string{"fail order", "do order", "do charge"}; !slices.Equal(got, want) {
			t.Errorf("journal %v, want %v", got, want)
		}
		if rec := record(t, store, "f"); rec.Status != saga.StatusCompleted {
			t.Errorf("record %+v, want completed", rec)
		}
	})
}

func TestLocalStepCompensation(t *testing.T) {
	store := &countingStore{MemoryStore: saga.NewMemoryStore()}
	var j journal
	o := newOrchestrator(t, store)
	first := local(&j, store, "order", 0, nil)
	undo, fails := first.Compensate, 1
	first.Compensate = func(ctx context.Context, o *order) error {
		if err := undo(ctx, o); err != nil {
			return err
		}
		if fails > 0 { // after its row: the rollback must discard it
			fails--
			return errBoom
		}
		return nil
	}
	def := define(t, o, first, step(&j, "charge", 1, saga.NotApplied(errBoom)))
	if _, err := def.Run(context.Background(), o, order{}, saga.WithID("c")); !errors.Is(err, saga.ErrCompensated) {
		t.Fatalf("Run = %v, want compensated", err)
	}
	if got, want := j.list(), []string{"do order", "fail charge", "undo order", "undo order"}; !slices.Equal(got, want) {
		t.Errorf("journal %v, want %v", got, want)
	}
	// The create with order done, the compensation of order with the
	// failure of charge (no compensating write before it), the outcome.
	if n := store.taken(); n != 3 {
		t.Errorf("%d writes, want 3", n)
	}
	rec := record(t, store, "c")
	if sr := rec.Steps[0]; rec.Status != saga.StatusCompensated || sr.Status != saga.StepCompensated || sr.CompensateAttempts != 2 {
		t.Errorf("record %s, order %+v", rec.Status, sr)
	}
	if !hasRow(t, store, "undo", "c/order") {
		t.Error("the compensation's row did not commit")
	}
}

func TestLocalStepConflictRollsBack(t *testing.T) {
	store := saga.NewMemoryStore()
	var j journal
	o := newOrchestrator(t, store)
	confirm := local(&j, store, "confirm", 0, nil)
	execute := confirm.Execute
	confirm.Execute = func(ctx context.Context, o *order) error {
		// Another orchestrator takes the saga over meanwhile.
		id, _ := saga.IDFromContext(ctx)
		rec, err := store.Get(context.Background(), id)
		if err != nil {
			return err
		}
		rec.Owner = "thief"
		if err := store.Update(context.Background(), rec); err != nil {
			return err
		}
		return execute(ctx, o)
	}
	def := define(t, o, step(&j, "charge", 0, nil), confirm)
	_, err := def.Run(context.Background(), o, order{}, saga.WithID("x"))
	if !errors.Is(err, saga.ErrLostOwnership) || !errors.Is(err, saga.ErrConflict) {
		t.Fatalf("Run = %v, want ErrLostOwnership", err)
	}
	rec := record(t, store, "x")
	if rec.Owner != "thief" || rec.Status != saga.StatusRunning || rec.Steps[1].Status != saga.StepPending {
		t.Errorf("record %+v", rec)
	}
	if hasRow(t, store, "do", "x/confirm") {
		t.Error("the step's row committed although its record write conflicted")
	}
}

// commitLost is a MemoryStore whose next commit succeeds but reports an
// error, as when the connection drops before the reply.
type commitLost struct {
	*saga.MemoryStore
	lose bool
}

func (c *commitLost) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	err := c.MemoryStore.InTx(ctx, fn)
	if err == nil && c.lose {
		c.lose = false
		return errors.New("commit: connection reset")
	}
	return err
}

func TestLocalStepCommitInDoubtIsLeftToRecover(t *testing.T) {
	store := &commitLost{MemoryStore: saga.NewMemoryStore()}
	var j journal
	o := newOrchestrator(t, store)
	def := define(t, o, step(&j, "charge", 0, nil), local(&j, store, "confirm", 0, nil), step(&j, "ship", 0, nil))
	store.lose = true
	_, err := def.Run(context.Background(), o, order{}, saga.WithID("x"))
	if err == nil || errors.Is(err, saga.ErrCompensated) {
		t.Fatalf("Run = %v, want the commit's error, the saga left in flight", err)
	}
	res, err := o.Recover(context.Background())
	if err != nil || res.Completed != 1 {
		t.Fatalf("Recover = %+v, %v", res, err)
	}
	// The commit happened: the record says confirm is done, so it does not
	// run again.
	if got, want := j.list(), []string{"do charge", "do confirm", "do ship"}; !slices.Equal(got, want) {
		t.Errorf("journal %v, want %v", got, want)
	}
}

func TestLocalStepRecover(t *testing.T) {
	store := saga.NewMemoryStore()
	var j journal
	dead := newOrchestrator(t, store, saga.WithOwnerID("node"))
	def := mustNew(t, step(&j, "reserve", 0, nil), strandsHere(step(&j, "charge", 0, nil)), local(&j, store, "confirm", 0, nil))
	strand(t, dead, def, "x")
	o := newOrchestrator(t, store, saga.WithOwnerID("node"))
	register(t, o, def)
	if res, err := o.Recover(context.Background()); err != nil || res.Completed != 1 {
		t.Fatalf("Recover = %+v, %v", res, err)
	}
	if got, want := j.list(), []string{"do reserve", "do charge", "do confirm"}; !slices.Equal(got, want) {
		t.Errorf("journal %v, want %v", got, want)
	}
	if rec := record(t, store, "x"); rec.Status != saga.StatusCompleted || rec.Steps[2].Attempts != 1 {
		t.Errorf("record %+v", rec)
	}
}

func TestLocalStepDeadlineBeforeTheNextStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := saga.NewMemoryStore()
		var j journal
		o := newOrchestrator(t, store, saga.WithListener(saga.ListenerFunc(func(_ context.Context, e saga.Event) {
			if e.Kind == saga.EventStarted {
				time.Sleep(2 * time.Second) // past the deadline, once order committed
			}
		})))
		def := define(t, o, local(&j, store, "order", 0, nil), step(&j, "charge", 0, nil))
		_, err := def.Run(context.Background(), o, order{}, saga.WithID("x"), saga.WithDeadline(time.Now().Add(time.Second)))
		if !errors.Is(err, saga.ErrDeadlineExceeded) {
			t.Fatalf("Run = %v, want the deadline", err)
		}
		// charge, marked running by the commit of order, never ran.
		if got, want := j.list(), []string{"do order", "undo order"}; !slices.Equal(got, want) {
			t.Errorf("journal %v, want %v", got, want)
		}
		if sr := record(t, store, "x").Steps[1]; sr.Status != saga.StepPending || sr.Attempts != 0 {
			t.Errorf("charge %+v, want pending", sr)
		}
	})
}

// txless is a Store that is not a TxStore.
type txless struct{ saga.Store }

func TestLocalStepDefinitionErrors(t *testing.T) {
	var j journal
	o := newOrchestrator(t, txless{saga.NewMemoryStore()})
	def := mustNew(t, step(&j, "a", 0, nil), local(&j, nil, "b", 0, nil))
	if err := o.Register(def); !errors.Is(err, saga.ErrInvalidOption) {
		t.Errorf("Register of a Local saga on a store that is not a TxStore = %v, want ErrInvalidOption", err)
	}
	if _, err := def.Run(context.Background(), o, order{}); !errors.Is(err, saga.ErrUnknownSaga) {
		t.Errorf("Run = %v, want ErrUnknownSaga", err)
	}
	_, err := saga.New("p", saga.Parallel(step(&j, "a", 0, nil), local(&j, nil, "b", 0, nil)))
	if !errors.Is(err, saga.ErrInvalidOption) {
		t.Errorf("New with a Local step in a Parallel group = %v, want ErrInvalidOption", err)
	}
}

// A Local step followed by a wait with nothing to execute parks the saga
// in the step's own write: the step, its business rows and the park commit
// together, and the park costs no write of its own.
func TestLocalStepParksInItsWrite(t *testing.T) {
	tests := []struct {
		name        string
		wait        saga.Step[order]
		signalFirst bool // the signal is stored before the run
		parks       bool
		writes      int // by the end of the run that parks, or completes
		after       int // after that run, until the saga completed
	}{
		// The wake-up's writes: c's start, which claims the saga, and the end.
		{"wait for a signal", saga.Step[order]{Name: "w", Wait: &saga.Wait[order]{Signal: true}}, false, true, 1, 2},
		// The park's look finds the signal: c's start takes the saga
		// back, as a wake-up's does.
		{"signal came first", saga.Step[order]{Name: "w", Wait: &saga.Wait[order]{Signal: true}}, true, false, 3, 0},
		{"timer already due", saga.SleepUntil("w", func(*order) time.Time { return time.Now().Add(-time.Second) }), false, false, 3, 0},
		{"timer", saga.Sleep[order]("w", time.Minute), false, true, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var j journal
				store := &countingStore{MemoryStore: saga.NewMemoryStore()}
				o := newOrchestrator(t, store)
				def := define(t, o, local(&j, store, "a", 0, nil), tt.wait, step(&j, "c", 0, nil))
				ctx := context.Background()
				if tt.signalFirst {
					if err := o.Signal(ctx, "x/w", "paid", nil); err != nil {
						t.Fatal(err)
					}
				}
				_, err := def.Run(ctx, o, order{}, saga.WithID("x"))
				if tt.parks != errors.Is(err, saga.ErrWaiting) || !tt.parks && err != nil {
					t.Fatalf("Run = %v, want parked %v", err, tt.parks)
				}
				if n := store.taken(); n != tt.writes {
					t.Errorf("%d writes by the end of the run, want %d", n, tt.writes)
				}
				if tt.parks {
					rec := record(t, store, "x")
					if rec.Status != saga.StatusWaiting || rec.Steps[0].Status != saga.StepDone || rec.Steps[1].Status != saga.StepWaiting || !hasRow(t, store, "do", "x/a") {
						t.Fatalf("after the run: %s, steps %+v", rec.Status, rec.Steps)
					}
					if tt.wait.Wait.Signal {
						if err := o.Signal(ctx, "x/w", "paid", nil); err != nil {
							t.Fatal(err)
						}
					} else {
						runTimers(t, o)
						time.Sleep(time.Minute)
						synctest.Wait()
					}
				}
				if rec := record(t, store, "x"); rec.Status != saga.StatusCompleted {
					t.Fatalf("saga %s, want completed", rec.Status)
				}
				if n := store.taken(); n != tt.after {
					t.Errorf("%d writes after the run, want %d", n, tt.after)
				}
				if got := j.list(); !slices.Equal(got, []string{"do a", "do c"}) {
					t.Errorf("journal %v", got)
				}
			})
		})
	}
}

// stealingStore lets another orchestrator take a waiting saga back (a
// write of the record, running, under another owner) just before the
// first write that would take it from StatusWaiting.
type stealingStore struct {
	*saga.MemoryStore
	stolen atomic.Bool
}

func (s *stealingStore) Update(ctx context.Context, r *saga.Record) error {
	if r.Status == saga.StatusRunning && !s.stolen.Load() {
		if cur, err := s.MemoryStore.Get(ctx, r.ID); err == nil && cur.Status == saga.StatusWaiting {
			s.stolen.Store(true)
			cur.Status, cur.Owner, cur.WaitKey, cur.WakeAt = saga.StatusRunning, "other", "", time.Time{}
			if err := s.MemoryStore.Update(ctx, cur); err != nil {
				return err
			}
		}
	}
	return s.MemoryStore.Update(ctx, r)
}

// A run whose park finds its signal there already takes the saga back
// with its next write; when another drive took the saga first (the timer
// loop's look for pending signals), that write loses, the run reports the
// saga waiting (continued elsewhere), runs nothing more, and its woken
// events never reach the listeners.
func TestParkFindsTheSignalAndLosesTheClaim(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var j journal
		store := &stealingStore{MemoryStore: saga.NewMemoryStore()}
		var mu sync.Mutex
		var kinds []saga.EventKind
		o := newOrchestrator(t, store, saga.WithListener(saga.ListenerFunc(func(_ context.Context, e saga.Event) {
			mu.Lock()
			kinds = append(kinds, e.Kind)
			mu.Unlock()
		})))
		def := define(t, o, local(&j, store, "a", 0, nil), saga.Step[order]{Name: "w", Wait: &saga.Wait[order]{Signal: true}}, step(&j, "c", 0, nil))
		ctx := context.Background()
		if err := o.Signal(ctx, "x/w", "paid", nil); err != nil {
			t.Fatal(err)
		}
		_, err := def.Run(ctx, o, order{}, saga.WithID("x"))
		if !errors.Is(err, saga.ErrWaiting) || !errors.Is(err, saga.ErrLostOwnership) {
			t.Fatalf("Run = %v, want ErrWaiting: continued by another drive", err)
		}
		if !store.stolen.Load() {
			t.Fatal("the saga was not taken back by the other drive")
		}
		if got, want := j.list(), []string{"do a"}; !slices.Equal(got, want) {
			t.Errorf("journal %v, want %v: c is the other drive's", got, want)
		}
		mu.Lock()
		defer mu.Unlock()
		if slices.Contains(kinds, saga.EventWoken) {
			t.Errorf("events %v: the losing run's woken event reached the listeners", kinds)
		}
	})
}
