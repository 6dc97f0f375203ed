package breaker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Breaker is a circuit breaker. It is safe for concurrent use. Make one
// with [New]; it starts closed. It owns no goroutine: time-driven changes
// (open to half-open, half-open running out of time) happen when a call or
// [Breaker.State] looks at it.
type Breaker struct {
	// cur is the current period: its state and counters. Every call loads
	// it with one atomic load and never takes a lock while the breaker is
	// closed; a change of state swaps in a new period under mu, so a late
	// result of an old period lands in counters nobody reads any more.
	cur atomic.Pointer[period]

	name      string
	cfg       config
	clk       clock
	needStart bool // the slow-call rule times each call
	needEnd   bool // the slow-call rule or the time window needs the end time
	untimed   bool // neither, and no observer: successes take the hot path
	obs       Observer

	mu         sync.Mutex // guards the fields below and half-open counts
	gen        uint64     // periods made so far
	reopens    int        // opens since the last close from half-open
	events     []event    // state changes waiting for their listeners
	delivering bool       // a goroutine is running listeners
}

// period is one stretch of time in one state.
type period struct {
	state State
	gen   uint64
	since int64 // when it began, ns since the clock's epoch
	until int64 // Open: when probes may start; HalfOpen: when it times out

	// Half-open accounting, guarded by Breaker.mu.
	issued    int // probe slots taken and not given back
	successes int

	consecOn bool // the consecutive-failures rule is on

	_      [cacheLine]byte
	consec atomic.Int64 // consecutive failures while closed
	_      [cacheLine - 8]byte
	count  *countWindow
	time   *timeWindow
}

// Counts is a snapshot of a breaker's current period.
type Counts struct {
	// Calls, Failures and Slow are the calls in the sliding window, and
	// those of them that failed or were slow (zero without a window).
	Calls, Failures, Slow int64
	// ConsecutiveFailures is the current run of failures, when that rule
	// is on.
	ConsecutiveFailures int64
	// Probes and ProbeSuccesses are, while half-open, the probe slots
	// taken and the probes that succeeded.
	Probes, ProbeSuccesses int
}

// New returns a closed breaker named name (used in errors, metrics and
// events). Without options it trips when [DefaultFailureRate] of the last
// [DefaultWindowSize] calls failed (once [DefaultMinCalls] were made),
// stays open [DefaultOpenDuration] (doubling on repeated trips, up to
// [DefaultMaxOpenDuration]), then lets one probe through. An invalid option makes it return an error wrapping
// [ErrInvalidOption].
func New(name string, opts ...Option) (*Breaker, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("breaker: new %q: %w", name, err)
	}
	return newBreaker(name, cfg), nil
}

func newBreaker(name string, cfg config) *Breaker {
	b := &Breaker{
		name:      name,
		cfg:       cfg,
		clk:       newClock(),
		needStart: cfg.slowThreshold > 0,
		needEnd:   cfg.slowThreshold > 0 || cfg.window == timeWindowKind,
	}
	if cfg.observer != nil {
		b.obs = cfg.observer(name)
	}
	b.untimed = !b.needEnd && b.obs == nil
	b.cur.Store(b.newPeriod(Closed, 0, 0))
	return b
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// newPeriod makes the next period; the caller holds mu (or owns b).
func (b *Breaker) newPeriod(s State, now, until int64) *period {
	b.gen++
	p := &period{state: s, gen: b.gen, since: now, until: until}
	if s == Closed {
		p.consecOn = b.cfg.consecutive > 0
		switch b.cfg.window {
		case countWindowKind:
			p.count = newCountWindow(b.cfg.windowSize, b.cfg.minCalls)
		case timeWindowKind:
			p.time = newTimeWindow(int64(b.cfg.windowLength), b.cfg.buckets, b.cfg.minCalls)
		}
	}
	return p
}

// State returns the breaker's state, after applying any change that time
// alone has caused: an open breaker whose open duration has passed is
// half-open, and a half-open one past its maximum time is open again.
func (b *Breaker) State() State {
	return b.current(context.Background()).state
}

// current returns the current period after time-driven changes.
func (b *Breaker) current(ctx context.Context) *period {
	for {
		p := b.cur.Load()
		if p.state != Open && p.state != HalfOpen {
			return p
		}
		now := b.clk.now()
		if now < p.until {
			return p
		}
		if p.state == Open {
			b.transition(ctx, p, HalfOpen, ReasonOpenElapsed, now, 0)
		} else {
			b.transition(ctx, p, Open, ReasonHalfOpenTimeout, now, 0)
		}
	}
}

// Counts returns a snapshot of the current period's counters.
func (b *Breaker) Counts() Counts {
	p := b.current(context.Background())
	var c Counts
	switch {
	case p.count != nil:
		c = p.count.counts()
	case p.time != nil:
		c = p.time.counts(b.clk.now())
	}
	c.ConsecutiveFailures = p.consec.Load()
	if p.state == HalfOpen {
		b.mu.Lock()
		c.Probes, c.ProbeSuccesses = p.issued, p.successes
		b.mu.Unlock()
	}
	return c
}

// ForceOpen makes the breaker reject every call until [Breaker.Reset] or
// [Breaker.Disable]. ctx goes to the listeners.
func (b *Breaker) ForceOpen(ctx context.Context) { b.operate(ctx, ForcedOpen) }

// Disable makes the breaker let every call through and record nothing
// until [Breaker.Reset] or [Breaker.ForceOpen]. ctx goes to the listeners.
func (b *Breaker) Disable(ctx context.Context) { b.operate(ctx, Disabled) }

// Reset closes the breaker with empty counters and the base open duration,
// whatever its state. ctx goes to the listeners.
func (b *Breaker) Reset(ctx context.Context) { b.operate(ctx, Closed) }

func (b *Breaker) operate(ctx context.Context, to State) {
	now := b.clk.now()
	for {
		p := b.cur.Load()
		if b.transition(ctx, p, to, ReasonOperator, now, 0) {
			return
		}
	}
}

// openFor returns the next open duration; the caller holds mu.
func (b *Breaker) openFor(retryAfter time.Duration) time.Duration {
	n := b.reopens
	b.reopens++
	if retryAfter > 0 {
		return retryAfter
	}
	d := float64(b.cfg.openDuration)
	for i := 0; i < n && d < float64(b.cfg.openMax); i++ {
		d *= b.cfg.multiplier
	}
	d = min(d, float64(b.cfg.openMax))
	if b.cfg.jitter > 0 {
		d -= d * b.cfg.jitter * b.cfg.random()
	}
	return max(time.Duration(d), 1)
}
