package eventbus

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"time"
)

// batchStep returns the step of a worker of the batch handler of rt: it
// fetches a batch and handles it, each message through mws (see
// HandleBatch).
func (r *Router) batchStep(rt *route, mws []Middleware) func(context.Context) error {
	var chain Handler // nil without middleware: the batch runs directly
	if len(mws) > 0 {
		chain = collect
		for i := len(mws) - 1; i >= 0; i-- {
			chain = mws[i](chain)
		}
	}
	return func(fetchCtx context.Context) error {
		ds, err := FetchBatch(fetchCtx, rt.sub, rt.cfg.batchSize, rt.cfg.batchWait)
		if err != nil {
			return err
		}
		r.processBatch(rt, chain, ds)
		return nil
	}
}

// processBatch handles the batch ds and settles each of its deliveries.
func (r *Router) processBatch(rt *route, chain Handler, ds []Delivery) {
	ctxs := make([]deliveryContext, len(ds))
	for i, d := range ds {
		ctxs[i] = deliveryContext{Context: r.handlerCtx, info: DeliveryInfo{
			Group: r.group, Pattern: rt.pattern, Handler: rt.cfg.name, Attempt: d.Attempt(), Message: d.Message(),
		}}
	}
	if chain == nil {
		contexts := make([]context.Context, len(ds))
		msgs := make([]*Message, len(ds))
		for i := range ctxs {
			contexts[i], msgs[i] = &ctxs[i], ctxs[i].info.Message
		}
		for i, err := range r.runBatch(rt, contexts, msgs) {
			r.settle(&ctxs[i], rt, ds[i], err)
		}
		return
	}
	// Each message runs through the chain in a goroutine of its own, so
	// that the chains can all wait at collect for the batch to run; the
	// last one runs here.
	run := &batchRun{r: r, rt: rt, pending: len(ds), slots: make([]batchSlot, len(ds)), done: make(chan struct{})}
	errs := make([]error, len(ds))
	var wg sync.WaitGroup
	one := func(i int) {
		slot := &run.slots[i]
		slot.run = run
		ctxs[i].slot = slot
		errs[i] = r.call(&ctxs[i], rt, chain, ctxs[i].info.Message)
		run.leave(slot)
	}
	for i := range len(ds) - 1 {
		wg.Go(func() { one(i) })
	}
	one(len(ds) - 1)
	wg.Wait()
	// Settled here, one after the other, rather than by each chain's
	// goroutine: a hundred goroutines settling at once contend for the
	// adapter's locks and connection, and cost more than they save.
	for i, err := range errs {
		r.settle(&ctxs[i], rt, ds[i], err)
	}
}

// runBatch runs rt's batch handler for msgs, whose chains handed over
// contexts, and returns each message's error. The handler's context ends
// with the router's or at the earliest deadline of the messages'.
func (r *Router) runBatch(rt *route, contexts []context.Context, msgs []*Message) (errs []error) {
	ctx := r.handlerCtx
	var earliest time.Time
	for _, c := range contexts {
		if d, ok := c.Deadline(); ok && (earliest.IsZero() || d.Before(earliest)) {
			earliest = d
		}
	}
	if !earliest.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, earliest)
		defer cancel()
	}
	ctx = context.WithValue(ctx, batchKey{}, &BatchInfo{
		Group: r.group, Pattern: rt.pattern, Handler: rt.cfg.name, contexts: contexts,
	})
	defer func() {
		if v := recover(); v != nil {
			// A panic fails the batch, every message of it, as Recover
			// fails a single message: a failed attempt that Retry counts.
			errs = batchOutcome(&PanicError{Value: v, Stack: debug.Stack()}, len(msgs))
		}
	}()
	return batchOutcome(rt.batch(ctx, msgs), len(msgs))
}

// A batchRun is one batch on its way through the messages' chains: each
// chain either reaches collect (the message joins the batch) or returns
// without calling it (the message stays out); once every chain has done
// one or the other, the batch runs and collect returns each its error.
type batchRun struct {
	r  *Router
	rt *route

	mu      sync.Mutex
	pending int // chains that have neither reached collect nor returned
	slots   []batchSlot
	done    chan struct{} // closed once the batch ran
}

// batchSlot is one message's place in a batchRun.
type batchSlot struct {
	run   *batchRun
	state slotState
	ctx   context.Context // what the message's chain handed to collect
	msg   *Message
	err   error // the message's outcome of the batch
}

type slotState int

const (
	slotPending slotState = iota // its chain runs
	slotJoined                   // its chain waits at collect
	slotLeft                     // its chain returned without joining
)

type batchSlotKey struct{}

// collect is the innermost Handler of a batch handler's chain: it joins
// the message to its batch and returns the message's error once the batch
// ran. A chain that calls it a second time runs its message alone.
func collect(ctx context.Context, msg *Message) error {
	slot, ok := ctx.Value(batchSlotKey{}).(*batchSlot)
	if !ok {
		return errors.New("eventbus: batch handler: a middleware handed on a context that is not the router's")
	}
	run := slot.run
	run.mu.Lock()
	if slot.state != slotPending {
		run.mu.Unlock()
		return run.r.runBatch(run.rt, []context.Context{ctx}, []*Message{msg})[0]
	}
	slot.state, slot.ctx, slot.msg = slotJoined, ctx, msg
	run.pending--
	last := run.pending == 0
	run.mu.Unlock()
	if last {
		run.execute()
	} else {
		<-run.done
	}
	return slot.err
}

// leave marks the chain of slot as returned; a chain that returned
// without joining no longer holds the batch back.
func (run *batchRun) leave(slot *batchSlot) {
	run.mu.Lock()
	last := false
	if slot.state == slotPending {
		slot.state = slotLeft
		run.pending--
		last = run.pending == 0
	}
	run.mu.Unlock()
	if last {
		run.execute()
	}
}

// execute runs the batch of the messages that joined, in the order of
// the fetch, and wakes their chains.
func (run *batchRun) execute() {
	defer close(run.done)
	var joined []*batchSlot
	for i := range run.slots {
		if run.slots[i].state == slotJoined {
			joined = append(joined, &run.slots[i])
		}
	}
	if len(joined) == 0 {
		return
	}
	contexts := make([]context.Context, len(joined))
	msgs := make([]*Message, len(joined))
	for i, s := range joined {
		contexts[i], msgs[i] = s.ctx, s.msg
	}
	for i, err := range run.r.runBatch(run.rt, contexts, msgs) {
		joined[i].err = err
	}
}
