package payments

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Faults is the fault injection of the payment-service.
type Faults struct {
	// ErrorRate is the share of charges and refunds that fail with 500,
	// from 0 (none) to 1 (all).
	ErrorRate float64 `json:"error_rate"`
	// LatencyMS is added to every charge and refund; zero means none.
	LatencyMS int `json:"latency_ms"`
	// Down makes every charge and refund answer 503.
	Down bool `json:"down"`
}

// faultState holds the current Faults. It is safe for concurrent use.
type faultState struct {
	mu sync.Mutex
	f  Faults
}

func (s *faultState) get() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f
}

func (s *faultState) set(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f = f
}

// apply waits the injected latency and returns the injected failure: 503
// when down, 500 at the error rate, 0 for none.
func (s *faultState) apply(ctx context.Context) int {
	f := s.get()
	if f.LatencyMS > 0 {
		t := time.NewTimer(time.Duration(f.LatencyMS) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	switch {
	case f.Down:
		return 503
	case f.ErrorRate >= 1 || f.ErrorRate > 0 && rand.Float64() < f.ErrorRate:
		return 500
	}
	return 0
}
