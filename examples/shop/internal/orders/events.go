package orders

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbusmetrics"
	"github.com/go-microkit/microkit/eventbus/eventbustrace"
	"github.com/go-microkit/microkit/examples/shop/internal/payments"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagabus"
)

// startRouter consumes the events the order sagas wait for: the outcome
// of a charge (payment.confirmed, payment.declined) and the warehouse's
// shipment.dispatched. Each signals the saga waiting on the event's key
// (package saga/sagabus), which continues in this process. An event for a
// wait that is over (a confirmation after the payment deadline cancelled
// the order) is acknowledged and logged, not retried.
func (s *Service) startRouter(ctx context.Context) error {
	group := s.deps.Name(platform.OrderService)
	metrics, err := eventbusmetrics.New(s.srv.Metrics())
	if err != nil {
		return fmt.Errorf("orders: event metrics: %w", err)
	}
	signal, err := sagabus.Handler(s.orch, sagabus.JSONKey("key"), sagabus.WithLogger(s.deps.Logger))
	if err != nil {
		return fmt.Errorf("orders: signal handler: %w", err)
	}
	s.router, err = eventbus.NewRouter(s.cfg.Subscriber, group, eventbus.WithLogger(s.deps.Logger), eventbus.WithConcurrency(16),
		eventbus.WithMiddleware(eventbus.Recover(), eventbustrace.Middleware(s.cfg.System), metrics.Middleware(),
			eventbus.DeadLetter(s.cfg.Publisher, eventbus.DeadLetterLogger(s.deps.Logger)),
			eventbus.Retry(retry.Policy{MaxAttempts: 20, Backoff: retry.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second}})))
	if err != nil {
		return fmt.Errorf("orders: router: %w", err)
	}
	for _, typ := range []string{payments.EventConfirmed, payments.EventDeclined, EventDispatched} {
		if err := s.router.Handle(typ, signal); err != nil {
			return fmt.Errorf("orders: handle %s: %w", typ, err)
		}
	}
	// The consumers live on the stream's leader, which a cluster may still
	// be electing: wait for it.
	if err := s.deps.WaitFor(ctx, "the consumers of "+group, s.router.Start); err != nil {
		return fmt.Errorf("orders: start consumers: %w", err)
	}
	s.base.Stack.Push(s.router.Close)
	return nil
}

// sagaMoved is the orchestrators' listener. It wakes the relay and the
// requests waiting for the order to settle after the transitions that
// follow a local step's commit: the park for the shipment (the order
// confirmed, order.confirmed and the warehouse's event committed), the
// saga's end (the order shipped, or cancelled by the compensation), or a
// compensation that failed for good. A local step's own events come
// inside its transaction, before the commit, when a read would not see
// it yet; the other transitions (a park for the payment, a wake-up, a
// remote step) add no event and settle nothing, and waking the relay or
// the requests for them would only cost reads.
func (s *Service) sagaMoved(_ context.Context, e saga.Event) {
	switch {
	case e.Kind == saga.EventWaiting && e.Step == stepAwaitShipment,
		e.Kind == saga.EventCompleted, e.Kind == saga.EventCompensated:
		if s.relay != nil {
			s.relay.Kick()
		}
		s.waiters.wake(e.SagaID, true)
	case e.Kind == saga.EventCompensationFailed, e.Kind == saga.EventResolved:
		s.waiters.wake(e.SagaID, false)
	}
}

// waiters are the requests waiting for an order to settle (POST /orders
// with Prefer: wait), by order id, and the order as the saga's last local
// step left it, for them.
type waiters struct {
	mu sync.Mutex
	by map[string][]chan Order
	// latest holds, for a watched order only, the order as the last
	// local step to settle it wrote it (confirm, or the cancel of a
	// compensation), kept before its commit: the transitions that wake
	// the waiters follow that commit, so they hand it over instead of the
	// waiters reading the order back.
	latest map[string]Order
}

func newWaiters() *waiters {
	return &waiters{by: map[string][]chan Order{}, latest: map[string]Order{}}
}

// watch returns a channel that receives the order at the next wake of id
// (or is closed without one: read it), and a function that stops
// watching.
func (w *waiters) watch(id string) (<-chan Order, func()) {
	ch := make(chan Order, 1)
	w.mu.Lock()
	w.by[id] = append(w.by[id], ch)
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		list := w.by[id]
		for i, c := range list {
			if c == ch {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(w.by, id)
			delete(w.latest, id)
		} else {
			w.by[id] = list
		}
	}
}

// keep records o, written by a local step that settles it in a
// transaction not yet committed, if a request watches it; a later keep
// (a retry, a compensation) replaces it.
func (w *waiters) keep(o Order) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.by[o.ID]) > 0 {
		w.latest[o.ID] = o
	}
}

// wake ends the watches of id, handing over the order that keep recorded
// if withLatest (the transition that wakes them follows the commit of the
// step that recorded it).
func (w *waiters) wake(id string, withLatest bool) {
	w.mu.Lock()
	list := w.by[id]
	o, ok := w.latest[id]
	delete(w.by, id)
	delete(w.latest, id)
	w.mu.Unlock()
	for _, ch := range list {
		if ok && withLatest {
			ch <- o // buffered, and woken once
		}
		close(ch)
	}
}

// settleWatch is a request's watch on its order, taken before the saga
// runs (create sets it), so that a settlement right after the run is not
// missed.
type settleWatch struct {
	ch   <-chan Order
	stop func()
}

// done stops the watch, if one was taken.
func (w *settleWatch) done() {
	if w.stop != nil {
		w.stop()
	}
}

// awaitSettled returns the order id once it is no longer pending, or as it
// is when ctx ends. A saga driven in this process wakes it at once; one
// driven by another instance is seen by a read every poll. The first wait
// is on w's watch, taken before the saga ran, when create took one (an
// order of a replayed request has none): the order was pending after the
// run, so there is nothing to read before it fires. A wake that hands
// over the order settled by this process needs no read either.
func (s *Service) awaitSettled(ctx context.Context, id string, w *settleWatch) (Order, error) {
	const poll = 250 * time.Millisecond
	ch := w.ch
	for {
		if ch != nil {
			t := time.NewTimer(poll)
			var (
				o      Order
				handed bool
			)
			select {
			case o, handed = <-ch:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			w.done()
			if handed && o.Status != StatusPending {
				return o, nil
			}
			if ctx.Err() != nil {
				return s.st.get(context.WithoutCancel(ctx), id)
			}
		}
		ch, w.stop = s.waiters.watch(id)
		o, err := s.st.get(ctx, id)
		if err != nil || o.Status != StatusPending {
			return o, err
		}
	}
}
