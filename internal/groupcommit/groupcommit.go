// Package groupcommit coalesces concurrent callers into batches run one
// after another, without a goroutine to own: the first caller to find no
// batch running leads, runs everything queued so far (up to a maximum),
// then hands the lead to the oldest caller still queued, so that no caller
// serves the others for ever. Stores use it to pay one transaction, and one
// commit's disk flush, for the writes of many callers.
package groupcommit

import (
	"context"
	"sync"
)

// Group runs batches of items of type T, one batch at a time. The zero
// value is not usable: call New.
type Group[T any] struct {
	max int
	run func(ctx context.Context, batch []T)

	mu      sync.Mutex
	queue   []*waiter[T]
	leading bool
	onQueue func() // see SetQueueHook
	alone   [1]T   // the batch of a caller that found no batch running; the leader's
}

// SetQueueHook sets f, called (without the group's lock) each time a
// caller joins the queue behind a running batch, so that tests know when
// a batch is waiting without sleeping. Set it before the first Do.
func (g *Group[T]) SetQueueHook(f func()) { g.onQueue = f }

// New returns a group whose batches hold at most limit items (limit < 1
// means 1) and are run by run. run gets a context without the cancellation of
// any caller (one caller hanging up must not fail the others) but with the
// values of the leader's, and must record each item's result in the item
// itself: Do returns after run did, and the caller then reads it. run must
// not keep batch after it returns: the group reuses it. A panic
// of run unwinds the leader alone: the lead passes on, and the batch's
// other callers return nil with whatever run recorded, so run should turn
// the panics it can foresee into results.
func New[T any](limit int, run func(ctx context.Context, batch []T)) *Group[T] {
	return &Group[T]{max: max(limit, 1), run: run}
}

type state int

const (
	stQueued state = iota // waiting in the queue
	stTaken               // in a batch, or dropped from the queue by the leader
	stLead                // handed the lead, still in the queue
)

// waiter is one caller in the queue.
type waiter[T any] struct {
	ctx   context.Context
	item  T
	state state         // guarded by Group.mu
	err   error         // ctx's error when dropped unrun, set before wake
	wake  chan struct{} // buffered: the item's batch ran, or the lead
}

// Do queues item and returns once a batch containing it has run: nil, and
// the item holds its result. If ctx ends before a batch took the item, Do
// returns ctx's error and the item was not run. Once taken, the item runs
// and Do waits for its batch whatever ctx does.
func (g *Group[T]) Do(ctx context.Context, item T) error {
	g.mu.Lock()
	if !g.leading {
		// No batch runs, so none waits either (the lead passes while the
		// queue holds callers): item runs at once, alone, without the
		// queue's bookkeeping, so that a caller alone pays nothing for the
		// grouping.
		g.leading = true
		g.mu.Unlock()
		return g.leadAlone(ctx, item)
	}
	w := &waiter[T]{ctx: ctx, item: item, wake: make(chan struct{}, 1)}
	g.queue = append(g.queue, w)
	g.mu.Unlock()
	if g.onQueue != nil {
		g.onQueue()
	}
	select {
	case <-w.wake:
	case <-ctx.Done():
		g.mu.Lock()
		if w.state == stQueued {
			g.remove(w)
			g.mu.Unlock()
			return ctx.Err()
		}
		g.mu.Unlock()
		<-w.wake // taken or handed the lead: the wake-up is on its way
	}
	g.mu.Lock()
	st := w.state
	g.mu.Unlock()
	if st == stLead {
		return g.lead(w)
	}
	return w.err
}

// leadAlone runs item as a batch of its own, as the leader, and hands the
// lead on to whoever queued meanwhile.
func (g *Group[T]) leadAlone(ctx context.Context, item T) error {
	defer func() {
		var zero T
		g.alone[0] = zero // keep nothing of the caller's
		g.passLead(nil, nil)
	}()
	if err := ctx.Err(); err != nil {
		return err // ended before its batch: not run
	}
	g.alone[0] = item
	g.run(detach(ctx), g.alone[:])
	return nil
}

// lead runs the next batch as its leader w, hands the lead on and wakes
// the batch's other callers.
func (g *Group[T]) lead(w *waiter[T]) error {
	g.mu.Lock()
	n := min(len(g.queue), g.max)
	taken := g.queue[:n:n]
	g.queue = append([]*waiter[T](nil), g.queue[n:]...)
	var batch []T
	for _, o := range taken {
		o.state = stTaken
		if err := o.ctx.Err(); err != nil {
			o.err = err // ended while queued: not run
			continue
		}
		batch = append(batch, o.item)
	}
	g.mu.Unlock()
	// Hand the lead on and wake the batch even if run panics, so that one
	// panic does not leave every later caller waiting.
	defer g.passLead(taken, w)
	if len(batch) > 0 {
		g.run(detach(w.ctx), batch)
	}
	return w.err
}

// passLead hands the lead to the oldest caller queued, or gives it up if
// none is, then wakes the callers of the batch that ran but its leader.
func (g *Group[T]) passLead(taken []*waiter[T], leader *waiter[T]) {
	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		next.state = stLead
		next.wake <- struct{}{}
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	for _, o := range taken {
		if o != leader {
			o.wake <- struct{}{}
		}
	}
}

// detach returns ctx without its cancellation, as run gets it: ctx itself
// when it has none to drop.
func detach(ctx context.Context) context.Context {
	if ctx.Done() == nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// remove drops w from the queue; g.mu is held.
func (g *Group[T]) remove(w *waiter[T]) {
	for i, o := range g.queue {
		if o == w {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			return
		}
	}
}
