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
}
