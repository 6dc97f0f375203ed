package gateway

import (
	"fmt"
	"sync"
	"time"
)

// Clock tells the time; tests inject a fake one so that retry budgets are
// deterministic.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the real wall clock, the default everywhere.
var SystemClock Clock = systemClock{}

// RetryBudget caps retries as a share of requests, in the manner of
// Finagle's and Envoy's retry budgets: every request deposits Ratio of a
// token, every retry withdraws a whole one, and MinPerSecond tokens a
// second are added so that a quiet route can still retry. The balance is
// capped at ten seconds of MinPerSecond (at least ten retries), so that a
// long calm period cannot fund a retry storm later. It is safe for
// concurrent use.
type RetryBudget struct {
	ratio  float64
	minPS  float64
	max    float64
	clock  Clock
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// NewRetryBudget returns a budget that allows retries of ratio (0 to 1) of
// the requests plus minPerSecond retries a second. The error wraps
// ErrInvalidOption. A nil clock means SystemClock.
func NewRetryBudget(ratio float64, minPerSecond float64, clock Clock) (*RetryBudget, error) {
	if ratio < 0 || ratio > 1 || minPerSecond < 0 || ratio == 0 && minPerSecond == 0 {
		return nil, fmt.Errorf("%w: retry budget ratio %v (want 0..1) and minPerSecond %v (want >= 0, not both zero)", ErrInvalidOption, ratio, minPerSecond)
	}
	if clock == nil {
		clock = SystemClock
	}
	b := &RetryBudget{ratio: ratio, minPS: minPerSecond, clock: clock}
	// Ten seconds' worth of the minimum rate, and at least ten retries.
	b.max = max(10*minPerSecond, 10)
	b.tokens = b.max
	b.last = clock.Now()
	return b, nil
}

func (b *RetryBudget) refillLocked(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.max, b.tokens+d.Seconds()*b.minPS)
		b.last = now
	}
}

// Deposit records one request.
func (b *RetryBudget) Deposit() {
	b.mu.Lock()
	b.refillLocked(b.clock.Now())
	b.tokens = min(b.max, b.tokens+b.ratio)
	b.mu.Unlock()
}

// Withdraw reports whether one retry is allowed now, and takes it.
func (b *RetryBudget) Withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(b.clock.Now())
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
