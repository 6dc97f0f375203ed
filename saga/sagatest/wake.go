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
	// Latencies are, per saga, the time from the call of Signal to the
	// start of the step after the wait, sorted.
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
// timer loop runs; calls idle while they wait; then signals every one,
// concurrency at a time, and checks that each completed with each step
// run once. The orchestrator's options are opts.
func ParkAndWake(tb testing.TB, s saga.WaitStore, n, concurrency int, idle func(), opts ...saga.Option) WakeResult {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type state struct {
		I int `json:"i"`
	}
	var (
		sent, started = make([]time.Time, n), make([]time.Time, n)
		runs          atomic.Int64
		noop          = func(context.Context, *state) error { runs.Add(1); return nil }
	)
	def, err := saga.New("park-and-wake",
		saga.Step[state]{Name: "reserve", Execute: noop, Compensate: noop},
		saga.Step[state]{Name: "pay", Execute: noop, Compensate: noop, Wait: &saga.Wait[state]{
			Signal: true, For: time.Hour,
			Key: func(s *state) string { return fmt.Sprint("pay-", s.I) },
		}},
		saga.Step[state]{Name: "ship", Execute: func(_ context.Context, s *state) error {
			started[s.I] = time.Now()
			runs.Add(1)
			return nil
		}},
	)
	if err != nil {
		tb.Fatal(err)
	}
	o := orchestrator(tb, s, def, opts...)
	timers := make(chan error, 1)
	go func() { timers <- o.RunTimers(ctx) }()
	each := func(f func(i int) error) time.Duration {
		start := time.Now()
		var (
			wg   sync.WaitGroup
			next atomic.Int64
		)
		for range concurrency {
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
		return time.Since(start)
	}
	var res WakeResult
	res.Park = each(func(i int) error {
		if _, err := def.Run(ctx, o, state{I: i}, saga.WithID(fmt.Sprint("w", i))); !errors.Is(err, saga.ErrWaiting) {
			return fmt.Errorf("run %d: %w", i, err)
		}
		return nil
	})
	if idle != nil {
		idle()
	}
	res.Wake = each(func(i int) error {
		sent[i] = time.Now()
		return o.Signal(ctx, fmt.Sprint("pay-", i), "payment.confirmed", nil)
	})
	cancel()
	if err := <-timers; err != nil {
		tb.Error(err)
	}
	if got := runs.Load(); got != int64(3*n) {
		tb.Errorf("%d steps ran, want %d", got, 3*n)
	}
	res.Latencies = make([]time.Duration, n)
	for i := range n {
		if started[i].IsZero() {
			tb.Fatalf("saga %d did not go on after its signal", i)
		}
		res.Latencies[i] = started[i].Sub(sent[i])
	}
	slices.Sort(res.Latencies)
	return res
}
