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
		s.waiters.wake(e.SagaID)
	case e.Kind == saga.EventCompensationFailed, e.Kind == saga.EventResolved:
		s.waiters.wake(e.SagaID)
	}
}

// waiters are the requests waiting for an order to settle (POST /orders
// with Prefer: wait), by order id.
type waiters struct {
	mu sync.Mutex
	by map[string][]chan struct{}
}

func newWaiters() *waiters { return &waiters{by: map[string][]chan struct{}{}} }

// watch returns a channel closed at the next wake of id, and a function
// that stops watching.
func (w *waiters) watch(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
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
		} else {
			w.by[id] = list
		}
	}
}

// wake closes the channels of the requests waiting for id.
func (w *waiters) wake(id string) {
	w.mu.Lock()
	list := w.by[id]
	delete(w.by, id)
	w.mu.Unlock()
	for _, ch := range list {
		close(ch)
	}
}

// settleWatch is a request's watch on its order, taken before the saga
// runs (create sets it), so that a settlement right after the run is not
// missed.
type settleWatch struct {
	ch   <-chan struct{}
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
// run, so there is nothing to read before it fires.
func (s *Service) awaitSettled(ctx context.Context, id string, w *settleWatch) (Order, error) {
	const poll = 250 * time.Millisecond
	ch := w.ch
	for {
		if ch != nil {
			t := time.NewTimer(poll)
			select {
			case <-ch:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			w.done()
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
