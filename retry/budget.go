package retry

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// ErrInvalidOption is wrapped by the error of [NewBudget] given an invalid
// policy.
var ErrInvalidOption = errors.New("retry: invalid option")

// BudgetPolicy sizes a [Budget]. The defaults are Finagle's
// (com.twitter.finagle.service.RetryBudget: 20% of requests, 10 retries a
// second, a 10-second window), which Linkerd adopted as well: they keep
// retries from adding more than a fifth to the load of a struggling
// service, while a client with little traffic can still retry a few
// requests a second. Each field's doc says what its zero value means.
type BudgetPolicy struct {
	// Ratio is how many retries each request earns: each request deposits
	// Ratio of a retry, so retries add at most that share to the load.
	// Zero means 0.2; a negative value means none, so that only the
	// MinPerSecond floor allows retries. It must be at most 1.
	Ratio float64
	// MinPerSecond is a floor of retries a second that holds however few
	// requests there were, so that a quiet client can still retry. Zero
	// means 10; a negative value means no floor.
	MinPerSecond float64
	// Window is how long the budget remembers requests and retries: a
	// request earns its share of a retry for Window, and a retry counts
	// against the budget for Window. Zero means 10 seconds. A longer
	// window smooths bursts; a shorter one forgets a storm sooner.
	Window time.Duration
}

// budgetSlots is how many parts the window is kept in: requests and retries
// leave the budget between 0.9 and 1 Window after they were counted.
const budgetSlots = 10

// milli is one retry: amounts are in thousandths of a retry, so that ten
// deposits of 0.1 make exactly one retry.
const milli = 1000

// Budget limits retries to a share of requests plus a small floor, so that
// retries cannot multiply the load on a sick service (the retry storm).
// Call [Budget.Deposit] once for every request and [Budget.Withdraw]
// before every retry. Withdraw allows a retry while the retries of the
// last Window stay within Ratio × the requests of the last Window plus
// MinPerSecond × Window; a fresh budget can spend its floor at once. The
// budget keeps the Window in tenths, so a request or a retry stops
// counting between 0.9 and 1 Window after it was counted, and the budget
// refills as time passes.
//
// Make one with [NewBudget]; the zero Budget is not usable. A Budget is
// safe for concurrent use and may be shared by several clients or routes:
// one budget per downstream service is the usual choice. Deposit and
// Withdraw do not allocate.
type Budget struct {
	deposit int64 // what one request earns, in milli
	reserve int64 // the floor over one window, in milli
	slotLen time.Duration
	start   time.Time // monotonic origin of slot numbers

	mu      sync.Mutex
	slots   [budgetSlots]int64 // net earnings of each part of the window, in milli
	head    int64              // number of the newest slot since start
	balance int64              // sum of slots
}

// NewBudget returns a budget for policy p. The error wraps
// [ErrInvalidOption].
func NewBudget(p BudgetPolicy) (*Budget, error) {
	switch {
	case math.IsNaN(p.Ratio) || p.Ratio > 1:
		return nil, fmt.Errorf("retry: new budget: %w: ratio %v above 1", ErrInvalidOption, p.Ratio)
	case math.IsNaN(p.MinPerSecond) || math.IsInf(p.MinPerSecond, 0):
		return nil, fmt.Errorf("retry: new budget: %w: min per second %v", ErrInvalidOption, p.MinPerSecond)
	case p.Window < 0:
		return nil, fmt.Errorf("retry: new budget: %w: negative window %v", ErrInvalidOption, p.Window)
	}
	switch {
	case p.Ratio == 0:
		p.Ratio = 0.2
	case p.Ratio < 0:
		p.Ratio = 0
	}
	switch {
	case p.MinPerSecond == 0:
		p.MinPerSecond = 10
	case p.MinPerSecond < 0:
		p.MinPerSecond = 0
	}
	if p.Window == 0 {
		p.Window = 10 * time.Second
	}
	reserve := p.MinPerSecond * p.Window.Seconds() * milli
	if reserve > math.MaxInt64/4 {
		return nil, fmt.Errorf("retry: new budget: %w: min per second %v over %v is too many retries", ErrInvalidOption, p.MinPerSecond, p.Window)
	}
	return &Budget{
		deposit: int64(math.Round(p.Ratio * milli)),
		reserve: int64(math.Round(reserve)),
		slotLen: max(p.Window/budgetSlots, 1),
		start:   time.Now(),
	}, nil
}

// Deposit records one request, which earns Ratio of a retry for the
// window. Call it once per request, not per attempt.
func (b *Budget) Deposit() {
	elapsed := time.Since(b.start)
	b.mu.Lock()
	i := b.advanceLocked(elapsed)
	b.slots[i] += b.deposit
	b.balance += b.deposit
	b.mu.Unlock()
}

// Withdraw takes one retry from the budget and reports whether there was
// one to take; on false, do not retry.
func (b *Budget) Withdraw() bool {
	elapsed := time.Since(b.start)
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.advanceLocked(elapsed)
	if b.reserve+b.balance < milli {
		return false
	}
	b.slots[i] -= milli
	b.balance -= milli
	return true
}

// advanceLocked forgets the slots that fell out of the window elapsed
// after start and returns the index of the current one. Callers read the
// time with time.Since, which reads only the monotonic clock: half the
// cost of time.Now, the larger part of a Deposit.
func (b *Budget) advanceLocked(elapsed time.Duration) int {
	n := int64(elapsed / b.slotLen)
	if n > b.head {
		for k := b.head + 1; k <= min(n, b.head+budgetSlots); k++ {
			i := k % budgetSlots
			b.balance -= b.slots[i]
			b.slots[i] = 0
		}
		b.head = n
	}
	return int(b.head % budgetSlots)
}
