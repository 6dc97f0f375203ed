package breaker

import (
	"context"
	"time"
)

// event is a state change waiting for its listeners. It carries the
// context of the call that caused it only until the listeners have run.
type event struct {
	ctx context.Context
	t   Transition
}

// transition replaces period from with a new period in state to, if from is
// still current, and runs the listeners; it reports whether it did.
// retryAfter, when positive, replaces the computed open duration.
func (b *Breaker) transition(ctx context.Context, from *period, to State, reason Reason, now int64, retryAfter time.Duration) bool {
	b.mu.Lock()
	if b.cur.Load() != from {
		b.mu.Unlock()
		return false
	}
	var until int64
	switch to {
	case Open:
		until = now + int64(b.openFor(retryAfter))
	case HalfOpen:
		until = now + int64(b.cfg.halfOpenMax)
	case Closed:
		if from.state == HalfOpen || reason == ReasonOperator {
			b.reopens = 0
		}
	}
	b.cur.Store(b.newPeriod(to, now, until))
	if from.state != to {
		t := Transition{Name: b.name, From: from.state, To: to, Reason: reason, At: b.clk.wall(now)}
		if to == Open {
			t.OpenUntil = b.clk.wall(until)
		}
		b.events = append(b.events, event{ctx: ctx, t: t})
	}
	b.deliver()
	return true
}

// deliver runs the listeners of queued events in order, outside the lock,
// in the goroutine that got there first; others leave their events to it.
// It is called with mu held and returns with mu released.
func (b *Breaker) deliver() {
	if b.delivering || len(b.events) == 0 {
		b.mu.Unlock()
		return
	}
	b.delivering = true
	for len(b.events) > 0 {
		e := b.events[0]
		b.events[0] = event{}
		b.events = b.events[1:]
		b.mu.Unlock()
		b.notify(e)
		b.mu.Lock()
	}
	b.events = nil
	b.delivering = false
	b.mu.Unlock()
}

func (b *Breaker) notify(e event) {
	// A panicking listener must not leave delivering set forever.
	defer func() {
		if r := recover(); r != nil {
			b.mu.Lock()
			b.delivering = false
			b.mu.Unlock()
			panic(r)
		}
	}()
	if b.obs != nil {
		b.obs.Transition(e.ctx, e.t)
	}
	for _, l := range b.cfg.listeners {
		l(e.ctx, e.t)
	}
}

// tripReason says which rate rule, if any, the window's counts break.
func (c *config) tripReason(w Counts) Reason {
	calls := float64(w.Calls)
	switch {
	case c.failureRate > 0 && float64(w.Failures) >= c.failureRate*calls:
		return ReasonFailureRate
	case c.slowRate > 0 && float64(w.Slow) >= c.slowRate*calls:
		return ReasonSlowCallRate
	}
	return ""
}
