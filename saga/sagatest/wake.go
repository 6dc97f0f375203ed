package sagatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/saga"
)

// BenchWake is the benchmark of waiting sagas on the stores newStore
// returns (a fresh one for each sub-benchmark): [ParkAndWake] with b.N
// sagas, signalled one at a time ("serial": the latency of a wake-up
// alone) and 8 at once ("concurrent-8": the throughput). It reports the
// CPU time of the process while the sagas wait for 2 seconds
// (idle-cpu-%, of one core), the latency from Signal to the start of the
// step after the wait (p50-µs, p99-µs) and the sagas woken per second
// (woken/s). The benchmark's time is the wake-ups'.
func BenchWake(b *testing.B, newStore func(b *testing.B) saga.WaitStore) {
	for _, bc := range []struct {
		name        string
		concurrency int
	}{{"serial", 1}, {"concurrent-8", 8}} {
		b.Run(bc.name, func(b *testing.B) {
			const idle = 2 * time.Second
			var cpu time.Duration
			res := ParkAndWake(b, newStore(b), b.N, bc.concurrency, func() {
				before := processCPU(b)
				time.Sleep(idle) // the measurement: what waiting costs
				cpu = processCPU(b) - before
				b.ResetTimer()
			})
			b.ReportMetric(100*cpu.Seconds()/idle.Seconds(), "idle-cpu-%")
			b.ReportMetric(float64(res.Percentile(50).Microseconds()), "p50-µs")
			b.ReportMetric(float64(res.Percentile(99).Microseconds()), "p99-µs")
			b.ReportMetric(res.PerSecond(), "woken/s")
		})
	}
}

// WakeResult is what [ParkAndWake] measured.
type WakeResult struct {
	// Park is how long parking the sagas took, and Wake how long
	// signalling them all took.
	Park, Wake time.Duration
	// Latencies are, per saga, the time from the call of Signal (or of
	// the delivery of its event) to the start of the step after the
	// wait, sorted.
	Latencies []time.Duration
}

// Percentile returns the p-th percentile (0 < p <= 100) of the
// latencies.
func (r WakeResult) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies))*p/100+0.5) - 1
	return r.Latencies[min(max(i, 0), len(r.Latencies)-1)]
}

// PerSecond returns the sagas woken per second.
func (r WakeResult) PerSecond() float64 { return float64(len(r.Latencies)) / r.Wake.Seconds() }

// ParkAndWake measures waiting sagas on s: it parks n sagas (a step,
// then a wait for a signal with a key of its own and a timeout of an
// hour, then a step), concurrency at a time, with an orchestrator whose
// timer loop runs; calls idle while they wait; then signals every one
// (Orchestrator.Signal), concurrency at a time, and checks that each
// completed with each step run once. The orchestrator's options are opts.
func ParkAndWake(tb testing.TB, s saga.WaitStore, n, concurrency int, idle func(), opts ...saga.Option) WakeResult {
	tb.Helper()
	return ParkAndWakeBy(tb, s, n, Wake{Concurrency: concurrency, Idle: idle}, opts...)
}

// Wake is how [ParkAndWakeBy] wakes the parked sagas.
type Wake struct {
	// Concurrency is how many goroutines park the sagas and deliver
	// their events; zero means 1.
	Concurrency int
	// Burst makes each goroutine deliver its next event as soon as the
	// last is delivered, and the run wait for every saga at the end (the
	// sagas go on as their events arrive); otherwise a goroutine waits
	// for the last event's saga to start its next step before it
	// delivers the next event (a wake-up's latency alone, with
	// Concurrency 1).
	Burst bool
	// Deliver returns the function that delivers the event of a
	// correlation key to the orchestrator o: it is called once, after
	// the sagas are parked and before Idle, and may start what the events go through (a
	// router on an event bus, closed by a tb.Cleanup of its own). The
	// saga may go on before the function returns or later. Nil means o's
	// Signal, with the type "payment.confirmed" and no payload.
	Deliver func(o *saga.Orchestrator) func(ctx context.Context, key string) error
	// Idle, if set, is called while the sagas wait, before the first
	// event is delivered.
	Idle func()
}

// lostEvent bounds the wait for a saga to go on after its event: a lost
// event would hang the run. It is far above any wake-up, a bus's retries
// and polls included.
const lostEvent = time.Minute

// ParkAndWakeBy is [ParkAndWake] with the events delivered as w says: it
// parks n sagas, then delivers every saga's event (the key of saga i is
// "pay-<i>") and checks that each completed with each step run once. The
// latencies run from the call of the delivery to the start of the step
// after the wait; Wake, from the first delivery to the last of those
// starts.
func ParkAndWakeBy(tb testing.TB, s saga.WaitStore, n int, w Wake, opts ...saga.Option) WakeResult {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type state struct {
		I int `json:"i"`
	}
	var (
		sent, started = make([]time.Time, n), make([]time.Time, n)
		wentOn        = make([]chan struct{}, n)
		ran           = make([]atomic.Bool, n) // the step ran: its wentOn is closed
		runs          atomic.Int64
		noop          = func(context.Context, *state) error { runs.Add(1); return nil }
	)
	for i := range wentOn {
		wentOn[i] = make(chan struct{})
	}
	def, err := saga.New("park-and-wake",
		saga.Step[state]{Name: "reserve", Execute: noop, Compensate: noop},
		saga.Step[state]{Name: "pay", Execute: noop, Compensate: noop, Wait: &saga.Wait[state]{
			Signal: true, For: time.Hour,
			Key: func(s *state) string { return fmt.Sprint("pay-", s.I) },
		}},
		saga.Step[state]{Name: "ship", Execute: func(_ context.Context, s *state) error {
			started[s.I] = time.Now()
			runs.Add(1)
			if !ran[s.I].Swap(true) { // a second run is counted in runs
				close(wentOn[s.I])
			}
			return nil
		}},
	)
	if err != nil {
		tb.Fatal(err)
	}
	o := orchestrator(tb, s, def, opts...)
	timers := make(chan error, 1)
	go func() { timers <- o.RunTimers(ctx) }()
	awaitSaga := func(i int) error {
		select {
		case <-wentOn[i]:
			return nil
		case <-time.After(lostEvent):
			return fmt.Errorf("saga %d did not go on within %v of its event", i, lostEvent)
		}
	}
	each := func(f func(i int) error) {
		var (
			wg   sync.WaitGroup
			next atomic.Int64
		)
		for range max(w.Concurrency, 1) {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
					if err := f(i); err != nil {
						tb.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if tb.Failed() {
			tb.FailNow()
		}
	}
	var res WakeResult
	start := time.Now()
	each(func(i int) error {
		if _, err := def.Run(ctx, o, state{I: i}, saga.WithID(fmt.Sprint("w", i))); !errors.Is(err, saga.ErrWaiting) {
			return fmt.Errorf("run %d: %w", i, err)
		}
		return nil
	})
	res.Park = time.Since(start)
	deliver := func(ctx context.Context, key string) error {
		return o.Signal(ctx, key, "payment.confirmed", nil)
	}
	if w.Deliver != nil {
		deliver = w.Deliver(o)
	}
	if w.Idle != nil {
		w.Idle()
	}
	start = time.Now()
	each(func(i int) error {
		sent[i] = time.Now()
		if err := deliver(ctx, fmt.Sprint("pay-", i)); err != nil {
			return fmt.Errorf("deliver %d: %w", i, err)
		}
		if w.Burst {
			return nil
		}
		return awaitSaga(i)
	})
	for i := range n {
		if err := awaitSaga(i); err != nil {
			tb.Fatal(err)
		}
	}
	res.Wake = time.Since(start)
	cancel()
	if err := <-timers; err != nil {
		tb.Error(err)
	}
	if got := runs.Load(); got != int64(3*n) {
		tb.Errorf("%d steps ran, want %d", got, 3*n)
	}
	res.Latencies = make([]time.Duration, n)
	for i := range n {
		res.Latencies[i] = started[i].Sub(sent[i])
	}
	slices.Sort(res.Latencies)
	return res
}
