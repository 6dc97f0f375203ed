package breaker

import (
	"context"
	"errors"
	"time"
)

// Permit is the breaker's leave for one call, from [Breaker.Acquire]. Report
// how the call went with exactly one of [Permit.Done] or [Permit.Record]. A
// permit is a small value: passing it around does not allocate. The zero
// Permit reports nothing.
type Permit struct {
	b     *Breaker
	p     *period
	start int64 // when the call began, if the slow-call rule times calls
	probe bool  // a half-open probe holding a slot
}

// Acquire asks leave for one call. It returns an error matching [ErrOpen]
// while the breaker is open or forced open, and [ErrTooManyProbes] while it
// is half-open with all its probe slots taken; the error is an
// [*OpenError]. On a closed breaker it takes no lock and allocates nothing.
// It is the two-step form for middleware that cannot wrap the call in a
// function; [Breaker.Allow] is the same with a done func.
func (b *Breaker) Acquire() (Permit, error) {
	p := b.cur.Load()
	if p.state == Closed || p.state == Disabled {
		pm := Permit{b: b, p: p}
		if b.needStart {
			pm.start = b.clk.now()
		}
		return pm, nil
	}
	return b.acquireSlow()
}

// Probe reports whether the permit is a half-open probe, one of the few
// calls let through to test whether the dependency has recovered.
func (pm Permit) Probe() bool { return pm.probe }

func (b *Breaker) acquireSlow() (Permit, error) {
	ctx := context.Background()
	for {
		p := b.current(ctx)
		switch p.state {
		case Closed, Disabled:
			return b.Acquire()
		case Open, ForcedOpen:
			var retry time.Time
			if p.state == Open {
				retry = b.clk.wall(p.until)
			}
			return Permit{}, b.reject(p.state, retry)
		}
		now := b.clk.now()
		b.mu.Lock()
		if b.cur.Load() != p {
			b.mu.Unlock()
			continue
		}
		if p.issued >= b.cfg.maxProbes {
			b.mu.Unlock()
			return Permit{}, b.reject(HalfOpen, time.Time{})
		}
		p.issued++
		b.mu.Unlock()
		return Permit{b: b, p: p, start: now, probe: true}, nil
	}
}

func (b *Breaker) reject(s State, retryAt time.Time) error {
	if b.obs != nil {
		b.obs.Call(Rejected, false)
	}
	return &OpenError{Name: b.name, State: s, RetryAt: retryAt}
}

// Done reports the call's error: nil is a success, anything else is
// classified by the breaker's [Classifier], except that a call whose
// caller cancelled ctx does not count. A deadline that passed while the
// call was in flight counts like any failure: the dependency did not
// answer in the time it was given. ctx is the call's context; it is passed
// to the listeners of a state change this result causes.
func (pm Permit) Done(ctx context.Context, err error) {
	if pm.p == nil {
		return
	}
	pm.Record(ctx, pm.b.outcome(ctx, err, false), 0)
}

// Record reports the call's outcome directly, for callers that classify
// results themselves (an HTTP status, a gRPC code). retryAfter, when
// positive, is the dependency's own hint of when to try again (such as a
// Retry-After header): if this failure opens the breaker, it stays open
// that long instead of its computed open duration.
func (pm Permit) Record(ctx context.Context, o Outcome, retryAfter time.Duration) {
	p := pm.p
	if p == nil {
		return
	}
	if o == Success && p.state == Closed && pm.b.untimed {
		// The hot path: no clock, no observer, no lock.
		if p.success() {
			pm.b.checkRates(ctx, p, pm.b.clk.now(), 0)
		}
		return
	}
	pm.b.record(ctx, pm, o, retryAfter)
}

// success records a success while closed without timing; it reports
// whether the rate rules must be evaluated.
func (p *period) success() (check bool) {
	if p.consecOn && p.consec.Load() != 0 {
		p.consec.Store(0)
	}
	if p.count != nil {
		return p.count.success()
	}
	return false
}

func (b *Breaker) record(ctx context.Context, pm Permit, o Outcome, retryAfter time.Duration) {
	if o > Ignored {
		o = Ignored // Rejected, or no outcome at all: nothing to count
	}
	p := pm.p
	var now int64
	slow := false
	if b.needEnd && p.state != Disabled {
		now = b.clk.now()
		slow = b.needStart && o != Ignored && now-pm.start >= int64(b.cfg.slowThreshold)
	}
	if b.obs != nil {
		b.obs.Call(o, slow)
	}
	switch {
	case pm.probe:
		b.recordProbe(ctx, p, o, slow, retryAfter)
	case p.state == Closed && o != Ignored:
		b.recordClosed(ctx, p, o == Failure, slow, now, retryAfter)
	}
}

func (b *Breaker) recordClosed(ctx context.Context, p *period, failed, slow bool, now int64, retryAfter time.Duration) {
	if p.consecOn {
		if failed {
			if p.consec.Add(1) >= int64(b.cfg.consecutive) {
				b.trip(ctx, p, ReasonConsecutiveFailures, now, retryAfter)
				return
			}
		} else if p.consec.Load() != 0 {
			p.consec.Store(0)
		}
	}
	check := false
	switch {
	case p.count != nil:
		v := uint32(slotUsed)
		if failed {
			v |= slotFailed
		}
		if slow {
			v |= slotSlow
		}
		if v == slotUsed {
			check = p.count.success()
		} else {
			check = p.count.record(v)
		}
	case p.time != nil:
		check = p.time.record(now, failed, slow)
	}
	if check {
		b.checkRates(ctx, p, now, retryAfter)
	}
}

// checkRates opens the breaker if the window's counts break a rate rule.
func (b *Breaker) checkRates(ctx context.Context, p *period, now int64, retryAfter time.Duration) {
	var w Counts
	switch {
	case p.count != nil:
		w = p.count.counts()
	case p.time != nil:
		w = p.time.counts(now)
	}
	if w.Calls < int64(b.cfg.minCalls) {
		return
	}
	if p.time != nil && !p.time.warm.Load() {
		p.time.warm.Store(true)
	}
	if reason := b.cfg.tripReason(w); reason != "" {
		b.trip(ctx, p, reason, now, retryAfter)
	}
}

// trip opens the breaker from the closed period p.
func (b *Breaker) trip(ctx context.Context, p *period, reason Reason, now int64, retryAfter time.Duration) {
	if !b.needEnd {
		now = b.clk.now()
	}
	b.transition(ctx, p, Open, reason, now, retryAfter)
}

func (b *Breaker) recordProbe(ctx context.Context, p *period, o Outcome, slow bool, retryAfter time.Duration) {
	now := b.clk.now()
	b.mu.Lock()
	if b.cur.Load() != p {
		b.mu.Unlock() // the half-open period this probe belonged to is over
		return
	}
	switch {
	case o == Ignored:
		p.issued--
	case o == Failure || slow:
		b.mu.Unlock()
		b.transition(ctx, p, Open, ReasonProbeFailed, now, retryAfter)
		return
	default:
		p.successes++
		if p.successes >= b.cfg.toClose {
			b.mu.Unlock()
			b.transition(ctx, p, Closed, ReasonProbesSucceeded, now, 0)
			return
		}
	}
	b.mu.Unlock()
}

// outcome classifies the error of a call made under ctx. Two kinds of call
// never count, whatever the classifier says: one whose caller cancelled
// ctx (the caller walked away) and one whose ctx had already ended when it
// started (expiredAtStart: the caller's time was spent before the
// dependency saw the call). A deadline that passes while the call is in
// flight does count: a hung dependency shows itself exactly that way, and
// ignoring it would keep the breaker closed while callers pile up.
func (b *Breaker) outcome(ctx context.Context, err error, expiredAtStart bool) Outcome {
	if err == nil {
		return Success
	}
	if expiredAtStart || errors.Is(ctx.Err(), context.Canceled) {
		return Ignored
	}
	return b.cfg.classifier(err)
}

// ended reports whether ctx is already done, without the lock that
// ctx.Err takes on some contexts; a context that can never end costs one
// nil check.
func ended(ctx context.Context) bool {
	done := ctx.Done()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// Allow is the two-step form for middleware: it asks leave for one call
// and returns done, which must be called exactly once with the call's
// error. It fails like [Breaker.Acquire]. The done func costs one small
// allocation; use Acquire where that matters.
func (b *Breaker) Allow() (done func(err error), err error) {
	pm, err := b.Acquire()
	if err != nil {
		return nil, err
	}
	return func(err error) { pm.Done(context.Background(), err) }, nil
}

// Execute runs fn if the breaker allows it and records its result. It
// returns fn's error, or an [*OpenError] without running fn. A panic in fn
// counts as a failure and goes on up. A call the caller cancelled, or
// whose ctx had already ended when it started, does not count; a deadline
// that passes while fn runs does. On a closed breaker it takes no lock and
// allocates nothing.
func (b *Breaker) Execute(ctx context.Context, fn func(ctx context.Context) error) error {
	_, err := Do(ctx, b, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, fn(ctx)
	})
	return err
}

// failUnfinished records a failure for a call that panicked (or called
// runtime.Goexit), so that a half-open probe slot is not lost.
func (pm Permit) failUnfinished(ctx context.Context, finished *bool) {
	if !*finished {
		pm.Record(ctx, Failure, 0)
	}
}

// ExecuteWithFallback is [Breaker.Execute] that calls fallback with the
// error when the breaker rejects the call or fn fails, and returns what
// fallback returns. When the caller has cancelled ctx, the error is
// returned as it is: nobody waits for a degraded answer, and a fallback
// that returns nil would pass a cancelled call off as a success. A ctx
// past its deadline does get the fallback.
func (b *Breaker) ExecuteWithFallback(ctx context.Context, fn func(ctx context.Context) error, fallback func(ctx context.Context, err error) error) error {
	if err := b.Execute(ctx, fn); err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return err
		}
		return fallback(ctx, err)
	}
	return nil
}

// Do runs fn through b like [Breaker.Execute] and returns its typed result.
func Do[T any](ctx context.Context, b *Breaker, fn func(ctx context.Context) (T, error)) (T, error) {
	c := call{pm: Permit{b: b, p: b.cur.Load()}}
	if c.pm.p.state != Closed || b.obs != nil {
		var err error
		if c.pm, err = b.Acquire(); err != nil {
			var zero T
			return zero, err
		}
	} else if b.needStart {
		c.pm.start = b.clk.now()
	}
	defer c.unfinished()
	expiredAtStart := ended(ctx)
	v, err := fn(ctx)
	c.finished = true
	if err == nil && c.pm.p.state == Closed && b.obs == nil {
		// The hot path: no lock, at most one clock read here.
		if b.untimed {
			if c.pm.p.success() {
				b.checkRates(ctx, c.pm.p, b.clk.now(), 0)
			}
			return v, nil
		}
		now := b.clk.now()
		slow := b.needStart && now-c.pm.start >= int64(b.cfg.slowThreshold)
		b.recordClosed(ctx, c.pm.p, false, slow, now, 0)
		return v, nil
	}
	c.pm.Record(ctx, b.outcome(ctx, err, expiredAtStart), 0)
	return v, err
}

// call is one call in flight through Do. Deferring a method on it (one
// pointer) rather than on the permit and context keeps the defer cheap on
// the hot path.
type call struct {
	pm       Permit
	finished bool
}

// unfinished records a failure for a call that panicked (or called
// runtime.Goexit), so that a half-open probe slot is not lost. The
// listeners of a change it causes get context.Background.
func (c *call) unfinished() {
	if !c.finished {
		c.pm.Record(context.Background(), Failure, 0)
	}
}

// DoWithFallback is [Do] that calls fallback with the error when the
// breaker rejects the call or fn fails, and returns what fallback returns:
// a cached value, a default, or the error wrapped. As with
// [Breaker.ExecuteWithFallback], a caller that has cancelled ctx gets fn's
// result and error without the fallback; a ctx past its deadline gets the
// fallback.
func DoWithFallback[T any](ctx context.Context, b *Breaker, fn func(ctx context.Context) (T, error), fallback func(ctx context.Context, err error) (T, error)) (T, error) {
	v, err := Do(ctx, b, fn)
	if err != nil && !errors.Is(ctx.Err(), context.Canceled) {
		return fallback(ctx, err)
	}
	return v, err
}
