package eventbus_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
)

// TestRetryBoundsEveryOutcome: under Retry(MaxAttempts: 3) a message is
// delivered at most three times whatever its handler does, with or without
// DeadLetter in the chain; with it, each message that failed for good is
// parked once. It runs in a testing/synctest bubble, where the redeliveries
// come on their own as the bubble's clock moves.
func TestRetryBoundsEveryOutcome(t *testing.T) {
	outcomes := []struct {
		name  string
		calls int // deliveries the policy allows for this outcome
		h     eventbus.Handler
	}{
		{"own delay", 3, func(context.Context, *eventbus.Message) error {
			return &eventbus.RetryError{Err: errors.New("busy"), Delay: time.Millisecond}
		}},
		{"plain error", 3, func(context.Context, *eventbus.Message) error { return errors.New("down") }},
		{"permanent", 1, func(context.Context, *eventbus.Message) error { return retry.Permanent(errors.New("poison")) }},
		{"permanent wrapped again", 1, func(context.Context, *eventbus.Message) error {
			return fmt.Errorf("invoice: %w", retry.Permanent(errors.New("poison")))
		}},
		{"panic", 3, func(context.Context, *eventbus.Message) error { panic("nil map") }},
		{"timeout", 3, func(ctx context.Context, _ *eventbus.Message) error {
			<-ctx.Done()
			return ctx.Err()
		}},
	}
	for _, parked := range []bool{false, true} {
		for _, oc := range outcomes {
			name := oc.name
			if parked {
				name += " dead-lettered"
			}
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					bus := newBus(t)
					var deadLetters atomic.Int32
					var chain []eventbus.Middleware
					if parked {
						chain = append(chain, eventbus.DeadLetter(eventbus.PublisherFunc(func(context.Context, ...*eventbus.Message) error {
							deadLetters.Add(1)
							return nil
						}), eventbus.DeadLetterLogger(quiet())))
					}
					chain = append(chain,
						eventbus.Retry(retry.Policy{MaxAttempts: 3, Backoff: retry.Backoff{Initial: time.Millisecond}}),
						eventbus.Timeout(time.Millisecond))
					var runs atomic.Int32
					r := startRouter(t, bus, "g", "job.run", func(ctx context.Context, m *eventbus.Message) error {
						runs.Add(1)
						return oc.h(ctx, m)
					}, eventbus.WithMiddleware(chain...))
					publish(t, bus, "job.run", 1)
					time.Sleep(time.Minute) // far beyond every delay the policy asks for
					synctest.Wait()
					if n := runs.Load(); int(n) != oc.calls {
						t.Fatalf("%d deliveries, want %d", n, oc.calls)
					}
					// Close waits for the last delivery to be settled.
					if err := r.Close(ctxT(t)); err != nil {
						t.Fatal(err)
					}
					// Settled for good: a new consumer of the group gets no
					// redelivery, however long it waits.
					sub, err := bus.Subscribe(ctxT(t), "g", "job.run")
					if err != nil {
						t.Fatal(err)
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
					defer cancel()
					if d, err := sub.Next(ctx); err == nil {
						t.Fatalf("after %d deliveries the message came again (attempt %d)", oc.calls, d.Attempt())
					}
					if want := map[bool]int32{false: 0, true: 1}[parked]; deadLetters.Load() != want {
						t.Fatalf("%d dead letters, want %d", deadLetters.Load(), want)
					}
				})
			})
		}
	}
}

// TestFateOf is the one decision table of a delivery's fate.
func TestFateOf(t *testing.T) {
	own := &eventbus.RetryError{Err: errors.New("busy"), Delay: time.Minute}
	parked := eventbus.ContextWithDelivery(context.Background(), &eventbus.DeliveryInfo{DeadLetterReason: "poison"})
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want eventbus.Fate
	}{
		{"handled", context.Background(), nil, eventbus.Fate{Settle: eventbus.SettleAck, Outcome: "ack"}},
		{"parked", parked, nil, eventbus.Fate{Settle: eventbus.SettleAck, Outcome: "deadletter"}},
		{"own delay", context.Background(), own, eventbus.Fate{Settle: eventbus.SettleNack, Delay: time.Minute, Outcome: "retry"}},
		{"plain error", context.Background(), errors.New("x"), eventbus.Fate{Settle: eventbus.SettleNack, Outcome: "error"}},
		{"permanent", context.Background(), retry.Permanent(errors.New("x")), eventbus.Fate{Settle: eventbus.SettleTerm, Outcome: "permanent"}},
		{"exhausted own delay", context.Background(), retry.Permanent(&eventbus.ExhaustedError{Attempts: 2, Err: own}),
			eventbus.Fate{Settle: eventbus.SettleTerm, Outcome: "permanent"}},
		{"retry of a permanent", context.Background(), &eventbus.RetryError{Err: retry.Permanent(errors.New("x")), Delay: time.Second},
			eventbus.Fate{Settle: eventbus.SettleTerm, Outcome: "permanent"}},
		{"negative delay", context.Background(), &eventbus.RetryError{Err: errors.New("x"), Delay: -time.Second},
			eventbus.Fate{Settle: eventbus.SettleNack, Outcome: "retry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := eventbus.FateOf(tt.ctx, tt.err); got != tt.want {
				t.Fatalf("FateOf(%v) = %+v, want %+v", tt.err, got, tt.want)
			}
		})
	}
}

// TestMiddlewareOrder: an order that breaks a guarantee is refused where
// it is made, and the recommended one is accepted.
func TestMiddlewareOrder(t *testing.T) {
	bus := newBus(t)
	retryMW := eventbus.Retry(retry.Policy{MaxAttempts: 2})
	dead := eventbus.DeadLetter(bus)
	h := func(context.Context, *eventbus.Message) error { return nil }

	if _, err := eventbus.NewRouter(bus, "g", eventbus.WithMiddleware(retryMW, dead)); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Errorf("NewRouter(Retry, DeadLetter) = %v, want ErrInvalidOption", err)
	}
	if _, err := eventbus.NewRouter(bus, "g", eventbus.WithMiddleware(retryMW), eventbus.WithMiddleware(dead)); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Errorf("NewRouter(Retry) + (DeadLetter) = %v, want ErrInvalidOption", err)
	}
	r, err := eventbus.NewRouter(bus, "g", eventbus.WithMiddleware(eventbus.Correlate(), dead, retryMW, eventbus.Timeout(time.Second), eventbus.Recover()))
	if err != nil {
		t.Fatalf("recommended order refused: %v", err)
	}
	if err := r.Handle("a.b", h, eventbus.HandlerMiddleware(dead)); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Errorf("Handle with DeadLetter inside the router's Retry = %v, want ErrInvalidOption", err)
	}

	plain, _ := eventbus.NewRouter(bus, "g2")
	if err := plain.Handle("a.b", h, eventbus.HandlerMiddleware(dead)); err != nil {
		t.Fatal(err)
	}
	if err := plain.Handle("c.d", h, eventbus.HandlerMiddleware(retryMW)); err != nil {
		t.Fatalf("a handler's own Retry inside the router's DeadLetter refused: %v", err)
	}
}

// TestHandlerNamesAreUnique: the name is the handler's identity (dedupe
// keys, dead letters, metrics), so a router refuses a second handler of
// the same name, explicit or by default.
func TestHandlerNamesAreUnique(t *testing.T) {
	r, _ := eventbus.NewRouter(newBus(t), "g")
	h := func(context.Context, *eventbus.Message) error { return nil }
	if err := r.Handle("order.created", h); err != nil {
		t.Fatal(err)
	}
	if err := r.Handle("order.>", h, eventbus.HandlerName("order.created")); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Errorf("second handler named order.created = %v, want ErrInvalidOption", err)
	}
	if err := r.Handle("order.>", h, eventbus.HandlerName("orders")); err != nil {
		t.Fatal(err)
	}
}

// TestMiddlewarePanicIsRedelivered: a panic outside the handler (in
// middleware, where no policy sees it) does not crash the consumer; the
// message is redelivered a second later (in a testing/synctest bubble).
func TestMiddlewarePanicIsRedelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := newBus(t)
		done := make(sink, 1)
		var calls atomic.Int32
		startRouter(t, bus, "g", "job.run", done.handler, eventbus.WithMiddleware(func(next eventbus.Handler) eventbus.Handler {
			return func(ctx context.Context, m *eventbus.Message) error {
				if calls.Add(1) == 1 {
					panic("middleware bug")
				}
				return next(ctx, m)
			}
		}))
		start := time.Now()
		sent := publish(t, bus, "job.run", 1)
		if got := done.next(t); got.ID != sent.ID {
			t.Fatalf("handled %s, want %s", got.ID, sent.ID)
		}
		if after := time.Since(start); after != time.Second {
			t.Fatalf("redelivered after %s, want 1s", after)
		}
	})
}

// TestDeadLetterOutlivesTimeout: a handler that used up its Timeout is
// still parked when Timeout is outside DeadLetter; parking does not run on
// the expired deadline (which would redeliver the message for ever).
func TestDeadLetterOutlivesTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := newBus(t)
		parked := make(chan *eventbus.Message, 1)
		var runs atomic.Int32
		r := startRouter(t, bus, "g", "job.run", func(ctx context.Context, _ *eventbus.Message) error {
			runs.Add(1)
			<-ctx.Done()
			return ctx.Err()
		}, eventbus.WithMiddleware(
			eventbus.Timeout(time.Millisecond),
			eventbus.DeadLetter(eventbus.PublisherFunc(func(ctx context.Context, msgs ...*eventbus.Message) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				parked <- msgs[0]
				return nil
			}), eventbus.DeadLetterLogger(quiet())),
			eventbus.Retry(retry.Policy{MaxAttempts: 1}),
		))
		publish(t, bus, "job.run", 1)
		time.Sleep(time.Minute)
		synctest.Wait()
		select {
		case <-parked:
		default:
			t.Fatalf("not parked after %d deliveries", runs.Load())
		}
		if n := runs.Load(); n != 1 {
			t.Fatalf("%d deliveries, want 1: parked at once, never redelivered", n)
		}
		if err := r.Close(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRetryNeverRunsPastThePolicy: a delivery past MaxAttempts (the last
// failure's parking or ack was lost) is parked without running the
// handler.
func TestRetryNeverRunsPastThePolicy(t *testing.T) {
	ran := false
	h := eventbus.Retry(retry.Policy{MaxAttempts: 3})(func(context.Context, *eventbus.Message) error {
		ran = true
		return nil
	})
	ctx := eventbus.ContextWithDelivery(context.Background(), &eventbus.DeliveryInfo{Attempt: 4})
	err := h(ctx, &eventbus.Message{ID: "1", Type: "a"})
	var ex *eventbus.ExhaustedError
	if ran || !retry.IsPermanent(err) || !errors.As(err, &ex) || ex.Attempts != 4 || !errors.Is(err, eventbus.ErrNoAttemptLeft) {
		t.Fatalf("attempt 4 of 3: handler ran %v, err %v; want not run, permanent ErrNoAttemptLeft", ran, err)
	}
}
