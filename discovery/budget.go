package discovery

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// RetryBudgetPolicy sizes a [RetryBudget]. The zero value of each field
// picks the default its doc names.
type RetryBudgetPolicy struct {
	// Ratio is the share of requests that may be retried: each request
	// deposits Ratio of a retry. Zero means 0.2, so that retries add at
	// most 20% load to a struggling service; Ratio must be at most 1.
	Ratio float64
	// MinPerSecond is a reserve of retries that refills over time, so
	// that a service with little traffic can still retry. Zero means 10; a
	// negative value means no reserve.
	MinPerSecond float64
}

// RetryBudget limits retries to a share of requests plus a small reserve,
// so that retries cannot multiply the load on a sick service (the retry
// storm). It is a token bucket: every request deposits Ratio, the reserve
// refills at MinPerSecond, and each retry withdraws one token. A RetryBudget
// is safe for concurrent use and may be shared by several transports.
type RetryBudget struct {
	// Amounts are in thousandths of a retry, so that ten deposits of 0.1
	// make exactly one retry.
	ratio     int64
	perSecond int64
	capacity  int64

	mu      sync.Mutex
	balance int64
	last    time.Time
}

const milli = 1000

// NewRetryBudget returns a budget that starts full of its reserve.
func NewRetryBudget(p RetryBudgetPolicy) (*RetryBudget, error) {
	if p.Ratio < 0 || p.Ratio > 1 {
		return nil, fmt.Errorf("discovery: new retry budget: %w: ratio %v not in [0, 1]", ErrInvalidOption, p.Ratio)
	}
	if p.Ratio == 0 {
		p.Ratio = 0.2
	}
	switch {
	case p.MinPerSecond == 0:
		p.MinPerSecond = 10
	case p.MinPerSecond < 0:
		p.MinPerSecond = 0
	}
	b := &RetryBudget{
		ratio:     int64(math.Round(p.Ratio * milli)),
		perSecond: int64(math.Round(p.MinPerSecond * milli)),
		capacity:  int64(math.Round(max(10, p.MinPerSecond) * milli)),
	}
	b.balance = b.perSecond
	b.last = time.Now()
	return b, nil
}

// Deposit records one request.
func (b *RetryBudget) Deposit() {
	b.mu.Lock()
	b.refillLocked()
	b.balance = min(b.capacity, b.balance+b.ratio)
	b.mu.Unlock()
}

// TryWithdraw takes one retry from the budget and reports whether there
// was one to take.
func (b *RetryBudget) TryWithdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked()
	if b.balance < milli {
		return false
	}
	b.balance -= milli
	return true
}

func (b *RetryBudget) refillLocked() {
	now := time.Now()
	elapsed := now.Sub(b.last)
	if elapsed <= 0 {
		return
	}
	if elapsed > time.Hour {
		elapsed = time.Hour // the bucket is full long before; avoid overflow
	}
	credit := b.perSecond * int64(elapsed) / int64(time.Second)
	if credit == 0 && b.perSecond > 0 {
		return // too soon for a whole thousandth: keep last so time accrues
	}
	b.balance = min(b.capacity, b.balance+credit)
	b.last = now
}
