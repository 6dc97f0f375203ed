package breaker_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

// TestHalfOpenProbeLimitUnderConcurrency hammers a half-open breaker from
// many goroutines. Probes end ignored (giving their slot back) or stay
// held; at no moment may more than the limit be held, and the breaker's
// own count must match.
func TestHalfOpenProbeLimitUnderConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxProbes, workers, attempts = 5, 32, 300
		b := mustNew(t, consecutive(1), openFor(time.Second), breaker.WithHalfOpen(maxProbes, maxProbes))
		_ = b.Execute(context.Background(), func(context.Context) error { return errBoom })
		time.Sleep(time.Second)

		var held, maxHeld, admitted, released atomic.Int64
		var mu sync.Mutex
		var kept []breaker.Permit
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range attempts {
					pm, err := b.Acquire()
					if err != nil {
						if !errors.Is(err, breaker.ErrTooManyProbes) {
							t.Errorf("err = %v", err)
						}
						continue
					}
					admitted.Add(1)
					n := held.Add(1)
					for m := maxHeld.Load(); n > m && !maxHeld.CompareAndSwap(m, n); m = maxHeld.Load() {
					}
					if (w+i)%50 == 0 {
						mu.Lock()
						kept = append(kept, pm) // held until the end
						mu.Unlock()
						continue
					}
					held.Add(-1)
					released.Add(1)
					pm.Done(context.Background(), context.Canceled)
				}
			})
		}
		wg.Wait()
		if m := maxHeld.Load(); m > maxProbes {
			t.Fatalf("%d probes held at once, limit %d", m, maxProbes)
		}
		if got, want := int64(b.Counts().Probes), admitted.Load()-released.Load(); got != want || got != int64(len(kept)) {
			t.Fatalf("breaker counts %d probes, %d held (%d kept)", got, want, len(kept))
		}
		if admitted.Load() <= maxProbes {
			t.Fatalf("only %d probes admitted: released slots were not reused", admitted.Load())
		}
		// Succeeding the held probes closes the breaker once enough succeed.
		for i, pm := range kept {
			pm.Done(context.Background(), nil)
			want := breaker.HalfOpen
			if len(kept) == maxProbes && i == maxProbes-1 {
				want = breaker.Closed
			}
			if got := b.State(); got != want {
				t.Fatalf("after %d successes: %v, want %v", i+1, got, want)
			}
		}
	})
}

// TestHalfOpenTotalProbesUnderConcurrency lets probes succeed or fail
// concurrently: the breaker never admits more than its limit per
// half-open period.
func TestHalfOpenTotalProbesUnderConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxProbes, workers = 3, 16
		var periods atomic.Int64 // half-open periods begun
		b := mustNew(t, consecutive(1), openFor(time.Second), breaker.WithHalfOpen(maxProbes, maxProbes),
			breaker.WithListener(func(_ context.Context, tr breaker.Transition) {
				if tr.To == breaker.HalfOpen {
					periods.Add(1)
				}
			}))
		_ = b.Execute(context.Background(), func(context.Context) error { return errBoom })
		var probes atomic.Int64
		for round := range 50 {
			time.Sleep(time.Second)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					pm, err := b.Acquire()
					if err != nil {
						return
					}
					if !pm.Probe() {
						pm.Done(context.Background(), nil)
						return
					}
					probes.Add(1)
					if (w+round)%7 == 0 {
						pm.Done(context.Background(), errBoom)
					} else {
						pm.Done(context.Background(), nil)
					}
				})
			}
			wg.Wait()
			if b.State() == breaker.Closed {
				_ = b.Execute(context.Background(), func(context.Context) error { return errBoom })
			}
		}
		if p, n := probes.Load(), periods.Load(); p > n*maxProbes {
			t.Fatalf("%d probes in %d half-open periods, limit %d each", p, n, maxProbes)
		}
	})
}

// TestCountsStayExactUnderConcurrency records a known mix from many
// goroutines into windows large enough to hold every call.
func TestCountsStayExactUnderConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const workers, calls = 16, 2000
		for _, window := range []breaker.Option{breaker.WithCountWindow(workers*calls, workers*calls), breaker.WithTimeWindow(time.Minute, 6, workers*calls)} {
			b := mustNew(t, breaker.WithFailureRate(1), breaker.WithSlowCalls(time.Hour, 1), window)
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for i := range calls {
						_ = b.Execute(context.Background(), func(context.Context) error {
							if i%3 == 0 {
								return errBoom
							}
							return nil
						})
					}
				})
			}
			wg.Wait()
			want := breaker.Counts{Calls: workers * calls, Failures: workers * ((calls + 2) / 3)}
			if got := b.Counts(); got != want {
				t.Fatalf("counts = %+v, want %+v", got, want)
			}
		}
	})
}

// TestTripUnderConcurrency: many goroutines failing at once open the
// breaker exactly once.
func TestTripUnderConcurrency(t *testing.T) {
	var opens atomic.Int64
	b := mustNew(t, breaker.WithFailureRate(0.5), breaker.WithCountWindow(100, 10),
		breaker.WithListener(func(_ context.Context, tr breaker.Transition) {
			if tr.To == breaker.Open {
				opens.Add(1)
			}
		}))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 100 {
				_ = b.Execute(context.Background(), func(context.Context) error { return errBoom })
			}
		})
	}
	wg.Wait()
	if b.State() != breaker.Open || opens.Load() != 1 {
		t.Fatalf("state %v after %d opens", b.State(), opens.Load())
	}
}

// TestTimeDrivenTransitionsUnderConcurrency races calls, State and Counts
// from many goroutines at the instants when time alone changes the state
// (an open duration ends, a half-open period times out): the listeners must
// still see one legal run of the state machine, in order. In the synctest
// bubble the workers that sleep to the same instant wake together, so that
// several of them find the same expired period at once; the two sleep
// lengths make the set of workers that meet differ from instant to instant.
func TestTimeDrivenTransitionsUnderConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var trs []breaker.Transition
		b := mustNew(t, consecutive(3), breaker.WithFailureRate(0.5), breaker.WithCountWindow(8, 4),
			openFor(time.Second), breaker.WithOpenBackoff(2, 8*time.Second, 0.5), breaker.WithHalfOpen(2, 2),
			breaker.WithHalfOpenMaxTime(5*time.Second),
			breaker.WithListener(func(_ context.Context, tr breaker.Transition) {
				mu.Lock()
				trs = append(trs, tr)
				mu.Unlock()
			}))
		end := time.Now().Add(20 * time.Second)
		var wg sync.WaitGroup
		for w := range 8 {
			nap := 50 * time.Millisecond
			if w%2 == 1 {
				nap = 30 * time.Millisecond
			}
			wg.Go(func() {
				for i := 0; time.Now().Before(end); i++ {
					switch (w + i) % 4 {
					case 0:
						_ = b.State()
					case 1:
						_ = b.Counts()
					default:
						_ = b.Execute(context.Background(), func(context.Context) error {
							if (w*7+i)%3 == 0 {
								return errBoom
							}
							return nil
						})
					}
					if i%5 == 4 {
						time.Sleep(nap)
					}
				}
			})
		}
		wg.Wait()
		state := b.State() // before taking mu: it may run the listener
		mu.Lock()
		defer mu.Unlock()
		if got := checkSequence(t, 0, trs, time.Now()); got != state {
			t.Fatalf("transitions end in %v, state is %v", got, state)
		}
		var timed int // transitions that time alone caused
		for _, tr := range trs {
			if tr.Reason == breaker.ReasonOpenElapsed || tr.Reason == breaker.ReasonHalfOpenTimeout {
				timed++
			}
		}
		if timed < 3 {
			t.Fatalf("%d of %d transitions caused by time: the test did not exercise the machine", timed, len(trs))
		}
	})
}
