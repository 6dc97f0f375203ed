package saga_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/saga"
)

// awaitPayment returns a step that journals "do pay", waits for the
// signal of key "pay-<saga id>" at most d, and records the signal's type
// in the state (a "declined" one fails it).
func awaitPayment(j *journal, d time.Duration) saga.Step[order] {
	return saga.Step[order]{
		Name: "pay",
		Execute: func(ctx context.Context, o *order) error {
			j.add("do pay")
			return nil
		},
		Compensate: func(ctx context.Context, o *order) error {
			j.add("undo pay")
			return nil
		},
		Wait: &saga.Wait[order]{
			Signal: true,
			For:    d,
			Key: func(o *order) string {
				return "pay-" + o.Items[0]
			},
			OnSignal: func(_ context.Context, o *order, sig saga.Signal) error {
				if sig.Type == "declined" {
					return errors.New("declined")
				}
				o.Charged = len(sig.Payload)
				return nil
			},
		},
	}
}

// runTimers runs o's timer loop until the test ends.
func runTimers(t *testing.T, o *saga.Orchestrator) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.RunTimers(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunTimers = %v", err)
		}
	})
}

func TestWaitTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, j := saga.NewMemoryStore(), &journal{}
		o := newOrchestrator(t, store)
		s := define(t, o, step(j, "reserve", 0, nil), awaitPayment(j, 15*time.Minute), step(j, "ship", 0, nil))
		runTimers(t, o)
		if _, err := s.Run(context.Background(), o, order{Items: []string{"a"}}, saga.WithID("a")); !errors.Is(err, saga.ErrWaiting) {
			t.Fatalf("Run = %v, want ErrWaiting", err)
		}
		time.Sleep(15*time.Minute - time.Second)
		synctest.Wait()
		if rec := record(t, store, "a"); rec.Status != saga.StatusWaiting {
			t.Fatalf("a second before its timeout the saga is %s", rec.Status)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		rec := record(t, store, "a")
		if rec.Status != saga.StatusCompensated || !strings.Contains(rec.Error, saga.ErrWaitTimeout.Error()) {
			t.Fatalf("after the timeout: %s, %q", rec.Status, rec.Error)
		}
		if got, want := j.list(), []string{"do reserve", "do pay", "undo pay", "undo reserve"}; !slices.Equal(got, want) {
			t.Errorf("journal %v, want %v", got, want)
		}
		if err := o.Signal(context.Background(), "pay-a", "paid", nil); !errors.Is(err, saga.ErrSagaFinished) {
			t.Errorf("a late signal = %v, want ErrSagaFinished", err)
		}
	})
}

func TestWaitSagaDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, j := saga.NewMemoryStore(), &journal{}
		o := newOrchestrator(t, store)
		s := define(t, o, awaitPayment(j, time.Hour), step(j, "ship", 0, nil))
		runTimers(t, o)
		_, err := s.Run(context.Background(), o, order{Items: []string{"a"}}, saga.WithID("a"), saga.WithDeadline(time.Now().Add(5*time.Minute)))
		if !errors.Is(err, saga.ErrWaiting) {
			t.Fatalf("Run = %v", err)
		}
		if rec := record(t, store, "a"); !rec.WakeAt.Equal(rec.Deadline) || rec.Steps[0].WakeAt.Sub(rec.Deadline) != 55*time.Minute {
			t.Errorf("wakes at %v, deadline %v, wait ends %v", rec.WakeAt, rec.Deadline, rec.Steps[0].WakeAt)
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		rec := record(t, store, "a")
		if rec.Status != saga.StatusCompensated || !strings.Contains(rec.Error, saga.ErrDeadlineExceeded.Error()) {
			t.Fatalf("after the deadline: %s, %q", rec.Status, rec.Error)
		}
		if got, want := j.list(), []string{"do pay", "undo pay"}; !slices.Equal(got, want) {
			t.Errorf("journal %v, want %v", got, want)
		}
	})
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, j := saga.NewMemoryStore(), &journal{}
		o := newOrchestrator(t, store)
		s := define(t, o, step(j, "reserve", 0, nil), saga.Sleep[order]("cool-off", 2*time.Hour),
			saga.SleepUntil("at-once", func(*order) time.Time { return time.Now() }), step(j, "ship", 0, nil))
		runTimers(t, o)
		start := time.Now()
		if _, err := s.Run(context.Background(), o, order{}, saga.WithID("a")); !errors.Is(err, saga.ErrWaiting) {
			t.Fatalf("Run = %v", err)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if rec := record(t, store, "a"); rec.Status != saga.StatusWaiting || !rec.WakeAt.Equal(start.Add(2*time.Hour)) {
			t.Fatalf("an hour in: %s, wakes at %v", rec.Status, rec.WakeAt)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		rec := record(t, store, "a")
		if rec.Status != saga.StatusCompleted || time.Since(start) != 2*time.Hour {
			t.Fatalf("after two hours: %s", rec.Status)
		}
		if sr := rec.Steps[1]; sr.Status != saga.StepDone || sr.EndedAt.Sub(sr.StartedAt) != 2*time.Hour {
			t.Errorf("the timer's record %+v", sr)
		}
		if got, want := j.list(), []string{"do reserve", "do ship"}; !slices.Equal(got, want) {
			t.Errorf("journal %v, want %v", got, want)
		}
	})
}

func TestSignalBeforeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, j := saga.NewMemoryStore(), &journal{}
		var (
			mu     sync.Mutex
			events []string
		)
		// The timer loop looks at the start and when the wait ends only:
		// TestSignalRacesTheTimerLoop races it with the signal.
		o := newOrchestrator(t, store, saga.WithTimerPoll(time.Hour), saga.WithListener(saga.ListenerFunc(func(_ context.Context, e saga.Event) {
			if e.Kind == saga.EventWaiting || e.Kind == saga.EventWoken {
				mu.Lock()
				events = append(events, e.Kind.String()+" "+e.Step+" "+e.Signal)
				mu.Unlock()
			}
		})))
		s := define(t, o, awaitPayment(j, 15*time.Minute), step(j, "ship", 0, nil))
		runTimers(t, o)
		if _, err := s.Run(context.Background(), o, order{Items: []string{"a"}}, saga.WithID("a")); !errors.Is(err, saga.ErrWaiting) {
			t.Fatalf("Run = %v", err)
		}
		// Off the lease keeper's ticks (each third of the 30s lease), which
		// would renew the lease of the step the signal runs, a write.
		time.Sleep(5*time.Minute + time.Second)
		if err := o.Signal(context.Background(), "pay-a", "paid", []byte("1999")); err != nil {
			t.Fatal(err)
		}
		rec := record(t, store, "a")
		if rec.Status != saga.StatusCompleted || string(rec.State) != `{"items":["a"],"charged":4}` {
			t.Fatalf("after the signal: %s %s", rec.Status, rec.State)
		}
		time.Sleep(time.Hour) // the timeout that no longer applies
		synctest.Wait()
		// Four writes: the start, the park, ship's start (which claims the
		// woken saga), the end; nothing after.
		if rec := record(t, store, "a"); rec.Status != saga.StatusCompleted || rec.Version != 4 {
			t.Errorf("after the timeout's time: %s, version %d", rec.Status, rec.Version)
		}
		mu.Lock()
		defer mu.Unlock()
		if want := []string{"waiting pay ", "woken pay paid"}; !slices.Equal(events, want) {
			t.Errorf("events %q, want %q", events, want)
		}
	})
}

func TestRunTimersStopsOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o, err := saga.NewOrchestrator(saga.NewMemoryStore())
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- o.RunTimers(context.Background()) }()
		time.Sleep(time.Minute)
		if err := o.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Errorf("RunTimers = %v after Close, want nil", err)
		}
		if err := o.Signal(context.Background(), "k", "", nil); !errors.Is(err, saga.ErrClosed) {
			t.Errorf("Signal after Close = %v, want ErrClosed", err)
		}
	})
}

// plainStore is a Store and nothing more.
type plainStore struct{ saga.Store }

func TestWaitInvalid(t *testing.T) {
	j := &journal{}
	wait := func(w saga.Wait[order]) saga.Step[order] { return saga.Step[order]{Name: "w", Wait: &w} }
	for name, stages := range map[string][]saga.Stage[order]{
		"parallel":        {saga.Parallel(step(j, "a", 0, nil), saga.Sleep[order]("w", time.Second))},
		"local":           {saga.Step[order]{Name: "w", Local: true, Execute: func(context.Context, *order) error { return nil }, Wait: &saga.Wait[order]{Signal: true}}},
		"negative":        {wait(saga.Wait[order]{Signal: true, For: -time.Second})},
		"endless timer":   {wait(saga.Wait[order]{})},
		"timer with key":  {wait(saga.Wait[order]{For: time.Second, Key: func(*order) string { return "k" }})},
		"timer on signal": {wait(saga.Wait[order]{For: time.Second, OnSignal: func(context.Context, *order, saga.Signal) error { return nil }})},
	} {
		if _, err := saga.New("test", stages...); !errors.Is(err, saga.ErrInvalidOption) {
			t.Errorf("%s: New = %v, want ErrInvalidOption", name, err)
		}
	}
	o := newOrchestrator(t, plainStore{saga.NewMemoryStore()})
	if err := o.Register(mustNew(t, saga.Sleep[order]("w", time.Second))); !errors.Is(err, saga.ErrInvalidOption) {
		t.Errorf("Register of a waiting saga over a store that is no WaitStore = %v", err)
	}
	if err := o.Signal(context.Background(), "k", "", nil); !errors.Is(err, saga.ErrInvalidOption) {
		t.Errorf("Signal = %v", err)
	}
	if err := o.RunTimers(context.Background()); !errors.Is(err, saga.ErrInvalidOption) {
		t.Errorf("RunTimers = %v", err)
	}
	if err := newOrchestrator(t, saga.NewMemoryStore()).Signal(context.Background(), "", "", nil); !errors.Is(err, saga.ErrInvalidOption) {
		t.Errorf("Signal with no key = %v", err)
	}
	for _, opt := range []saga.Option{saga.WithTimerPoll(0), saga.WithSignalRetention(0)} {
		if _, err := saga.NewOrchestrator(saga.NewMemoryStore(), opt); !errors.Is(err, saga.ErrInvalidOption) {
			t.Errorf("option = %v, want ErrInvalidOption", err)
		}
	}
}

// A saga parked while the timer loop sleeps (here for an hour: nothing
// else is due) wakes the loop, so that a one-minute timer fires on time.
func TestParkWakesTheTimerLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, j := saga.NewMemoryStore(), &journal{}
		o := newOrchestrator(t, store, saga.WithTimerPoll(time.Hour))
		s := define(t, o, saga.Sleep[order]("wait", time.Minute), step(j, "ship", 0, nil))
		runTimers(t, o)
		synctest.Wait() // the loop has looked, found nothing, and sleeps
		if _, err := s.Run(context.Background(), o, order{}, saga.WithID("a")); !errors.Is(err, saga.ErrWaiting) {
			t.Fatalf("Run = %v", err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if rec := record(t, store, "a"); rec.Status != saga.StatusCompleted {
			t.Fatalf("a minute later the saga is %s", rec.Status)
		}
	})
}

// lookCounter counts the timer loop's looks for due sagas.
type lookCounter struct {
	*saga.MemoryStore
	mu    sync.Mutex
	looks int
}

func (s *lookCounter) List(ctx context.Context, f saga.Filter) ([]*saga.Record, error) {
	if !f.DueBy.IsZero() {
		s.mu.Lock()
		s.looks++
		s.mu.Unlock()
	}
	return s.MemoryStore.List(ctx, f)
}

func (s *lookCounter) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.looks
}

// A park whose wake-up comes after the timer loop's next look leaves the
// loop asleep: a saga with a distant deadline costs the store no read. One
// due before that look wakes the loop.
func TestParkNudgesTheTimerLoopOnlyWhenEarlier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, j := &lookCounter{MemoryStore: saga.NewMemoryStore()}, &journal{}
		o := newOrchestrator(t, store, saga.WithTimerPoll(time.Minute))
		// Charged holds the nap in seconds.
		s := define(t, o, saga.SleepUntil("wait", func(o *order) time.Time {
			return time.Now().Add(time.Duration(o.Charged) * time.Second)
		}), step(j, "ship", 0, nil))
		runTimers(t, o)
		synctest.Wait() // the loop has looked, found nothing, and sleeps a minute
		before := store.count()
		for i := range 3 {
			if _, err := s.Run(context.Background(), o, order{Charged: 3600}, saga.WithID(string(rune('a'+i)))); !errors.Is(err, saga.ErrWaiting) {
				t.Fatalf("Run = %v", err)
			}
		}
		synctest.Wait()
		if n := store.count() - before; n != 0 {
			t.Fatalf("three parks for an hour made %d looks before the loop's next one, want 0", n)
		}
		if _, err := s.Run(context.Background(), o, order{Charged: 1}, saga.WithID("s")); !errors.Is(err, saga.ErrWaiting) {
			t.Fatalf("Run = %v", err)
		}
		synctest.Wait()
		if n := store.count() - before; n != 1 {
			t.Fatalf("a park for a second made %d looks, want 1", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if rec := record(t, store.MemoryStore, "s"); rec.Status != saga.StatusCompleted {
			t.Fatalf("a second later the saga is %s", rec.Status)
		}
	})
}

// failingUpdates is a MemoryStore whose next fail Updates fail, as a
// process that dies, or a database that goes away, at that write would.
type failingUpdates struct {
	*saga.MemoryStore
	mu   sync.Mutex
	fail int
}

func (s *failingUpdates) Update(ctx context.Context, r *saga.Record) error {
	s.mu.Lock()
	fail := s.fail > 0
	if fail {
		s.fail--
	}
	s.mu.Unlock()
	if fail {
		return errors.New("the database went away")
	}
	return s.MemoryStore.Update(ctx, r)
}

// A saga woken by a signal whose drive stops before its first write (the
// one that claims it) stays waiting with its signal pending, not taken:
// delivered again, the signal drives it then. Taken before that write, the
// signal would leave a waiting saga that no delivery and no look for
// pending signals would continue.
func TestWakeStoppedBeforeItsFirstWriteLeavesTheSignalPending(t *testing.T) {
	store, j := &failingUpdates{MemoryStore: saga.NewMemoryStore()}, &journal{}
	o := newOrchestrator(t, store)
	s := define(t, o, awaitPayment(j, time.Hour), local(j, store, "confirm", 0, nil))
	ctx := context.Background()
	if _, err := s.Run(ctx, o, order{Items: []string{"a"}}, saga.WithID("a")); !errors.Is(err, saga.ErrWaiting) {
		t.Fatalf("Run = %v", err)
	}
	store.mu.Lock()
	store.fail = 1
	store.mu.Unlock()
	if err := o.Signal(ctx, "pay-a", "paid", []byte("1999")); err == nil {
		t.Fatal("Signal = nil; want the error of the write that failed")
	}
	if rec := record(t, store.MemoryStore, "a"); rec.Status != saga.StatusWaiting {
		t.Fatalf("after the failed drive the saga is %s, want waiting", rec.Status)
	}
	if sig, err := store.GetSignal(ctx, "pay-a"); err != nil || sig.SagaID != "" {
		t.Fatalf("signal %+v, %v; want it pending", sig, err)
	}
	if err := o.Signal(ctx, "pay-a", "paid", []byte("1999")); err != nil {
		t.Fatal(err)
	}
	if rec := record(t, store.MemoryStore, "a"); rec.Status != saga.StatusCompleted || string(rec.State) != `{"items":["a","confirm"],"charged":4}` {
		t.Fatalf("delivered again: %s %s", rec.Status, rec.State)
	}
	if sig, err := store.GetSignal(ctx, "pay-a"); err != nil || sig.SagaID != "a" {
		t.Errorf("signal %+v, %v; want it taken by a", sig, err)
	}
	if !hasRow(t, store, "do", "a/confirm") {
		t.Error("confirm's row did not commit")
	}
}

// A signal delivered while the timer loop looks for sagas whose signal is
// pending (a lease after its previous look, here at the same instant)
// may be driven by both; the saga continues once, and its listeners hear
// of one wake-up: a drive whose first write, the one that claims the
// saga, loses emits nothing.
func TestSignalRacesTheTimerLoop(t *testing.T) {
	for range 20 {
		synctest.Test(t, func(t *testing.T) {
			store, j := saga.NewMemoryStore(), &journal{}
			var (
				mu    sync.Mutex
				woken int
			)
			o := newOrchestrator(t, store, saga.WithLease(time.Minute), saga.WithTimerPoll(time.Minute),
				saga.WithListener(saga.ListenerFunc(func(_ context.Context, e saga.Event) {
					if e.Kind == saga.EventWoken {
						mu.Lock()
						woken++
						mu.Unlock()
					}
				})))
			s := define(t, o, awaitPayment(j, time.Hour), step(j, "ship", 0, nil))
			runTimers(t, o)
			if _, err := s.Run(context.Background(), o, order{Items: []string{"a"}}, saga.WithID("a")); !errors.Is(err, saga.ErrWaiting) {
				t.Fatalf("Run = %v", err)
			}
			time.Sleep(time.Minute) // the loop looks for pending signals now
			if err := o.Signal(context.Background(), "pay-a", "paid", []byte("1999")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Minute)
			synctest.Wait()
			if rec := record(t, store, "a"); rec.Status != saga.StatusCompleted {
				t.Fatalf("saga %s, want completed", rec.Status)
			}
			mu.Lock()
			defer mu.Unlock()
			if woken != 1 {
				t.Errorf("%d woken events, want 1", woken)
			}
			if got := j.list(); !slices.Equal(got, []string{"do pay", "do ship"}) {
				t.Errorf("journal %v", got)
			}
		})
	}
}
