package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of four", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p50 of 100", ms(hundred...), 0.5, 50 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p100", ms(1, 2, 3), 1, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.q, got, tt.want)
			}
		})
	}
}

func TestStatsSummary(t *testing.T) {
	s := &stats{byOutcome: map[string]int{}}
	s.add(3*time.Millisecond, "confirmed")
	s.add(1*time.Millisecond, "cancelled")
	s.add(9*time.Millisecond, "error")
	n, outcomes, p50, p99 := s.summary()
	if n != 2 || outcomes != "cancelled 1, confirmed 1, error 1" || p50 != time.Millisecond || p99 != 3*time.Millisecond {
		t.Errorf("summary = %d %q %v %v", n, outcomes, p50, p99)
	}
	if got := s.rateLimited(); got != 0 {
		t.Errorf("rateLimited = %d with no 429", got)
	}
	s.add(time.Millisecond, "http 429 too_many_requests")
	s.add(time.Millisecond, "http 429 too_many_requests")
	s.add(time.Millisecond, "http 503 payment_unavailable")
	if got := s.rateLimited(); got != 2 {
		t.Errorf("rateLimited = %d, want 2", got)
	}
	if got := s.failed(); got != 4 {
		t.Errorf("failed = %d, want 4 (one error, two 429, one 503)", got)
	}
}

// Each figure of the median line is that figure's own median over the
// runs, here from three runs that each hold one of the extremes.
func TestMedianOf(t *testing.T) {
	run := func(orders int, p50, p99 time.Duration, failed int, cpu time.Duration, tx float64) result {
		return result{orders: orders, elapsed: time.Second, p50: p50, p99: p99, failed: failed,
			cpu: cpuCost{orders: orders, perOrder: cpu}, pg: pgCost{transactionsPerOrder: tx}, hasPG: true}
	}
	ms := time.Millisecond
	runs := []result{
		run(500, 20*ms, 90*ms, 0, 4*ms, 7.5),
		run(100, 10*ms, 300*ms, 3, 2*ms, 9),
		run(300, 30*ms, 60*ms, 1, 9*ms, 8),
	}
	want := "median of 3 runs: 300.0 orders/s, p50 20.0ms, p99 90.0ms, 1 failed, cpu 4.00ms/order, " +
		"postgres 8.00 transactions/order, 0.000 new sessions/order"
	if got := medianOf(runs); got != want {
		t.Errorf("medianOf =\n%s\nwant\n%s", got, want)
	}
	two := []result{run(100, 10*ms, 10*ms, 0, ms, 8), run(300, 30*ms, 30*ms, 2, 3*ms, 6)}
	two[0].hasPG, two[1].hasPG = false, false
	want = "median of 2 runs: 200.0 orders/s, p50 20.0ms, p99 20.0ms, 1 failed, cpu 2.00ms/order"
	if got := medianOf(two); got != want {
		t.Errorf("medianOf, even count, no -pg =\n%s\nwant\n%s", got, want)
	}
}
