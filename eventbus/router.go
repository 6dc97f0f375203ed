package eventbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// ErrRouterStarted is returned by Handle after Start, and by a second
// Start.
var ErrRouterStarted = errors.New("eventbus: router already started")

// Router subscribes one consumer group to the patterns of its handlers and
// runs each delivery through the handler's middleware chain, then settles
// it by FateOf: nil acks, a [retry.Permanent] error terminates it
// (logged; put DeadLetter in the chain to park it), a *RetryError nacks
// with its delay and any other error nacks it for immediate redelivery. The handler runs
// under Recover whatever the chain says, so that a panic is a failed
// attempt that Retry counts. A batch handler (HandleBatch) receives several
// deliveries in one call and each of them is settled the same way, alone.
//
// Register handlers, then run it one of two ways. Run(ctx) runs it in the
// foreground until ctx ends, the shape of a process's main loop. Start and
// Close(ctx) are for a router that is one component of a service, started
// with the others and closed with them: Close's ctx bounds the drain, which
// Run cannot offer since its ctx has already ended when it drains. Either
// way the router stops fetching, waits for the handlers in flight, acks
// those that finished and leaves everything not yet handled to be
// redelivered. A Router is safe for concurrent use.
type Router struct {
	sub   Subscriber
	group string
	cfg   routerConfig

	mu      sync.Mutex
	routes  []*route
	started bool
	closed  bool

	stopFetch      context.CancelFunc
	cancelHandlers context.CancelFunc
	handlerCtx     context.Context // owned by the router, not a request scope
	wg             sync.WaitGroup
	done           chan struct{}
	closeErr       error
}

type route struct {
	pattern string
	cfg     routeConfig
	handler Handler      // nil for a batch handler
	batch   BatchHandler // nil for a single-message handler
	sub     Subscription
}

// NewRouter returns a router that consumes for group through sub.
func NewRouter(sub Subscriber, group string, opts ...RouterOption) (*Router, error) {
	if sub == nil {
		return nil, fmt.Errorf("eventbus: new router: %w: nil subscriber", ErrInvalidOption)
	}
	if err := ValidateGroup(group); err != nil {
		return nil, fmt.Errorf("eventbus: new router: %w", err)
	}
	r := &Router{sub: sub, group: group, done: make(chan struct{})}
	r.cfg = routerConfig{logger: slog.Default(), concurrency: 1}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(&r.cfg); err != nil {
			return nil, fmt.Errorf("eventbus: new router: %w", err)
		}
	}
	if err := checkOrder(r.cfg.middleware); err != nil {
		return nil, fmt.Errorf("eventbus: new router: %w", err)
	}
	return r, nil
}

// Handle registers h for the messages whose type matches pattern. Each
// pattern may be registered once per router, by Handle or HandleBatch.
func (r *Router) Handle(pattern string, h Handler, opts ...HandleOption) error {
	if h == nil {
		return fmt.Errorf("eventbus: handle %s: %w: nil handler", pattern, ErrInvalidOption)
	}
	rt := &route{pattern: pattern, handler: h}
	rt.cfg = routeConfig{name: pattern}
	if err := r.register(rt, opts); err != nil {
		return fmt.Errorf("eventbus: handle %s: %w", pattern, err)
	}
	return nil
}

// register applies opts to rt and adds it to the routes.
func (r *Router) register(rt *route, opts []HandleOption) error {
	if err := ValidatePattern(rt.pattern); err != nil {
		return err
	}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(&rt.cfg); err != nil {
			return err
		}
	}
	if rt.batch == nil && (rt.cfg.batchSize != 0 || rt.cfg.batchWaitSet) {
		return fmt.Errorf("%w: batch options are for HandleBatch", ErrInvalidOption)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return ErrRouterStarted
	}
	for _, other := range r.routes {
		if other.pattern == rt.pattern {
			return fmt.Errorf("%w: pattern registered twice", ErrInvalidOption)
		}
		if other.cfg.name == rt.cfg.name {
			// The name is the handler's identity in dedupe keys, dead
			// letters and metrics: two handlers may not share it.
			return fmt.Errorf("%w: handler name %q taken by %s", ErrInvalidOption, rt.cfg.name, other.pattern)
		}
	}
	if err := checkOrder(append(r.cfg.middleware[:len(r.cfg.middleware):len(r.cfg.middleware)], rt.cfg.middleware...)); err != nil {
		return err
	}
	r.routes = append(r.routes, rt)
	return nil
}

// On registers a typed handler: each message's JSON data is decoded into a
// T before fn runs. A message that does not decode is a poison message: it
// fails permanently and is dead-lettered. The message itself is in the
// context's DeliveryInfo.
func On[T any](r *Router, pattern string, fn func(ctx context.Context, event T) error, opts ...HandleOption) error {
	if fn == nil {
		return fmt.Errorf("eventbus: on %s: %w: nil handler", pattern, ErrInvalidOption)
	}
	return r.Handle(pattern, func(ctx context.Context, msg *Message) error {
		event, err := Decode[T](msg)
		if err != nil {
			return retry.Permanent(err)
		}
		return fn(ctx, event)
	}, opts...)
}

// Start subscribes every handler and starts its workers. ctx bounds only the
// subscribing; the workers run until Close.
func (r *Router) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if r.started {
		return ErrRouterStarted
	}
	if len(r.routes) == 0 {
		return fmt.Errorf("eventbus: start: %w: no handlers", ErrInvalidOption)
	}
	for _, rt := range r.routes {
		var opts []SubscribeOption
		prefetch := rt.cfg.prefetch
		if prefetch == 0 && rt.batch != nil {
			// A batch fills only from what the adapter holds: ask for two
			// batches per worker, so that the broker sends the next batch
			// while this one is handled, not only once it is settled.
			prefetch = 2 * rt.cfg.batchSize * r.concurrency(rt)
		}
		if prefetch > 0 {
			opts = append(opts, WithPrefetch(prefetch))
		}
		sub, err := r.sub.Subscribe(ctx, r.group, rt.pattern, opts...)
		if err != nil {
			for _, done := range r.routes {
				if done.sub != nil {
					_ = done.sub.Close()
					done.sub = nil
				}
			}
			return fmt.Errorf("eventbus: start: subscribe %s: %w", rt.pattern, err)
		}
		rt.sub = sub
	}
	r.started = true
	fetchCtx, stopFetch := context.WithCancel(context.Background())
	r.handlerCtx, r.cancelHandlers = context.WithCancel(context.Background())
	r.stopFetch = stopFetch
	for _, rt := range r.routes {
		mws := append(append([]Middleware(nil), r.cfg.middleware...), rt.cfg.middleware...)
		var step func(context.Context) error
		if rt.batch != nil {
			step = r.batchStep(rt, mws)
		} else {
			step = r.singleStep(rt, mws)
		}
		for range r.concurrency(rt) {
			r.wg.Add(1)
			go r.work(fetchCtx, rt, step)
		}
	}
	return nil
}

// concurrency returns how many workers rt runs.
func (r *Router) concurrency(rt *route) int {
	if rt.cfg.concurrency > 0 {
		return rt.cfg.concurrency
	}
	return r.cfg.concurrency
}

// singleStep returns the step of a worker of the single-message handler
// of rt: it fetches one delivery and handles it through mws.
func (r *Router) singleStep(rt *route, mws []Middleware) func(context.Context) error {
	h := Recover()(rt.handler)
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return func(fetchCtx context.Context) error {
		d, err := rt.sub.Next(fetchCtx)
		if err != nil {
			return err
		}
		r.process(rt, h, d)
		return nil
	}
}

// Run starts the router and blocks until ctx is done (or Close is called),
// then closes it gracefully: it waits for the handlers in flight, however
// long they take, and returns nil, or the error of a subscription that
// failed to close. Use Start and Close instead to bound that wait.
func (r *Router) Run(ctx context.Context) error {
	if err := r.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-r.done:
	}
	return r.Close(context.WithoutCancel(ctx))
}

// Close stops fetching, waits for the handlers in flight to finish and settle
// their messages, then closes the subscriptions so that everything fetched but
// not handled is redelivered. If ctx ends first, Close cancels the handlers'
// context, closes the subscriptions and returns ctx's error; handlers that
// ignore their context may then still be running. Close is idempotent.
func (r *Router) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		select {
		case <-r.done:
			return r.closeErr
		case <-ctx.Done():
			return fmt.Errorf("eventbus: router close: %w", ctx.Err())
		}
	}
	r.closed = true
	started := r.started
	r.mu.Unlock()
	if !started {
		close(r.done)
		return nil
	}
	r.stopFetch()
	finished := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(finished)
	}()
	var err error
	select {
	case <-finished:
	case <-ctx.Done():
		r.cancelHandlers()
		err = fmt.Errorf("eventbus: router close: %w", ctx.Err())
	}
	r.cancelHandlers()
	for _, rt := range r.routes {
		if cerr := rt.sub.Close(); cerr != nil && !errors.Is(cerr, ErrClosed) && err == nil {
			err = fmt.Errorf("eventbus: router close %s: %w", rt.pattern, cerr)
		}
	}
	r.closeErr = err
	close(r.done)
	return err
}

// work runs step, which fetches and handles, until fetchCtx ends, and
// backs off while fetching fails.
func (r *Router) work(fetchCtx context.Context, rt *route, step func(context.Context) error) {
	defer r.wg.Done()
	pause := 10 * time.Millisecond
	for fetchCtx.Err() == nil {
		err := step(fetchCtx)
		if err != nil {
			if fetchCtx.Err() != nil {
				return
			}
			if errors.Is(err, ErrClosed) {
				r.cfg.logger.Error("eventbus: subscription closed under a running router",
					"group", r.group, "handler", rt.cfg.name)
				return
			}
			r.cfg.logger.Warn("eventbus: fetch failed", "group", r.group, "handler", rt.cfg.name, "error", err)
			select {
			case <-fetchCtx.Done():
				return
			case <-time.After(pause):
			}
			pause = min(2*pause, time.Second)
			continue
		}
		pause = 10 * time.Millisecond
	}
}

func (r *Router) process(rt *route, h Handler, d Delivery) {
	ctx := &deliveryContext{Context: r.handlerCtx, info: DeliveryInfo{
		Group: r.group, Pattern: rt.pattern, Handler: rt.cfg.name, Attempt: d.Attempt(), Message: d.Message(),
	}}
	r.settle(ctx, rt, d, r.call(ctx, rt, h, ctx.info.Message))
}

// settle settles d by FateOf(ctx, err), ctx being the context its handler
// chain ran with.
func (r *Router) settle(ctx context.Context, rt *route, d Delivery, err error) {
	msg := d.Message()
	fate := FateOf(ctx, err)
	var settle error
	switch fate.Settle {
	case SettleAck:
		settle = d.Ack(r.handlerCtx)
	case SettleNack:
		settle = d.Nack(r.handlerCtx, fate.Delay)
	default:
		r.cfg.logger.Error("eventbus: dropping message after permanent failure",
			"group", r.group, "handler", rt.cfg.name, "type", msg.Type, "id", msg.ID, "error", err)
		settle = d.Term(r.handlerCtx)
	}
	if settle != nil {
		r.cfg.logger.Warn("eventbus: settling delivery failed; it will be redelivered",
			"outcome", fate.Outcome, "group", r.group, "handler", rt.cfg.name, "type", msg.Type, "id", msg.ID, "error", settle)
	}
}

// call runs the handler chain. The handler itself runs under Recover (see
// Start), so that its panics are failed attempts that Retry counts; a panic
// in middleware, which no policy sees, is logged and the message
// redelivered a second later rather than crashing the consumer or looping.
func (r *Router) call(ctx context.Context, rt *route, h Handler, msg *Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			r.cfg.logger.Error("eventbus: middleware panicked",
				"group", r.group, "handler", rt.cfg.name, "type", msg.Type, "id", msg.ID, "panic", v, "stack", string(debug.Stack()))
			err = &RetryError{Err: &PanicError{Value: v}, Delay: time.Second}
		}
	}()
	return h(ctx, msg)
}
