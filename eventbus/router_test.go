package eventbus_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
)

func TestOnTypedHandlerAndPoisonDecode(t *testing.T) {
	bus := newBus(t)
	got := make(chan orderCreated, 4)
	var seen atomic.Int32
	r, err := eventbus.NewRouter(bus, "billing", eventbus.WithLogger(quiet()),
		eventbus.WithMiddleware(func(next eventbus.Handler) eventbus.Handler {
			return func(ctx context.Context, m *eventbus.Message) error {
				seen.Add(1)
				return next(ctx, m)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := eventbus.On(r, "order.created", func(ctx context.Context, e orderCreated) error {
		got <- e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	// A payload that does not decode fails permanently: with no DeadLetter
	// in the chain it is dropped (terminated), not retried.
	if err := bus.Publish(ctxT(t), &eventbus.Message{ID: "bad", Type: "order.created", Data: []byte("{")}); err != nil {
		t.Fatal(err)
	}
	publish(t, bus, "order.created", orderCreated{OrderID: "o-1", Total: 5})
	if e := <-got; e.OrderID != "o-1" {
		t.Fatalf("got %+v", e)
	}
	publish(t, bus, "order.created", orderCreated{OrderID: "o-2"})
	if e := <-got; e.OrderID != "o-2" {
		t.Fatalf("got %+v", e)
	}
	if n := seen.Load(); n != 3 {
		t.Fatalf("handler chain ran %d times, want 3 (the bad message once)", n)
	}
}

// TestRetryDelaysFollowPolicyThenDeadLetter runs in a testing/synctest
// bubble: the redeliveries come at the policy's delays to the instant, and
// the dead letter carries the time of the last failure.
func TestRetryDelaysFollowPolicyThenDeadLetter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := newBus(t)
		dlq, err := bus.Subscribe(ctxT(t), "ops", "deadletter.>")
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu    sync.Mutex
			calls []time.Time
		)
		start := time.Now()
		startRouter(t, bus, "billing", "order.created", func(ctx context.Context, m *eventbus.Message) error {
			mu.Lock()
			calls = append(calls, time.Now())
			mu.Unlock()
			return errors.New("ledger unavailable")
		}, eventbus.WithMiddleware(
			eventbus.DeadLetter(bus, eventbus.DeadLetterLogger(quiet())),
			eventbus.Retry(retry.Policy{MaxAttempts: 4, Backoff: retry.Backoff{Initial: 100 * time.Millisecond, Multiplier: 2, Jitter: retry.NoJitter}}),
		))
		orig := publish(t, bus, "order.created", orderCreated{OrderID: "o-1"})
		d, err := dlq.Next(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		dl := d.Message()
		if dl.Type != "deadletter.order.created" || !strings.HasPrefix(dl.ID, orig.ID+".deadletter.") ||
			dl.Metadata[eventbus.MetaDeadLetterAttempts] != "4" ||
			dl.Metadata[eventbus.MetaDeadLetterTime] != start.Add(700*time.Millisecond).UTC().Format(time.RFC3339Nano) ||
			dl.Metadata[eventbus.MetaDeadLetterReason] != "eventbus: failed 4 attempts: ledger unavailable" {
			t.Fatalf("dead letter %+v", dl)
		}
		mu.Lock()
		defer mu.Unlock()
		var got []time.Duration
		for _, c := range calls {
			got = append(got, c.Sub(start))
		}
		if want := []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond}; !slices.Equal(got, want) {
			t.Fatalf("handler ran at %v after publishing, want %v", got, want)
		}
	})
}

// TestRetryPolicy: Retry hands the broker the policy's delay for each
// attempt, makes the attempt that MaxAttempts or MaxElapsed does not allow
// to be followed the last, and measures MaxElapsed from the message's Time.
func TestRetryPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := time.Second
		backoff := retry.Backoff{Initial: s, Multiplier: 3, Max: 5 * s, Jitter: retry.NoJitter}
		fresh := &eventbus.Message{ID: "1", Type: "t", Time: time.Now()}
		old := &eventbus.Message{ID: "2", Type: "t", Time: time.Now().Add(-56 * s)}
		timeless := &eventbus.Message{ID: "3", Type: "t"}
		tests := []struct {
			name    string
			policy  retry.Policy
			msg     *eventbus.Message
			attempt int
			delay   time.Duration // 0: exhausted
		}{
			{"first", retry.Policy{MaxAttempts: 4, Backoff: backoff}, fresh, 1, s},
			{"second", retry.Policy{MaxAttempts: 4, Backoff: backoff}, fresh, 2, 3 * s},
			{"capped", retry.Policy{MaxAttempts: 4, Backoff: backoff}, fresh, 3, 5 * s},
			{"last", retry.Policy{MaxAttempts: 4, Backoff: backoff}, fresh, 4, 0},
			{"zero policy", retry.Policy{}, fresh, 1, 0},
			{"young enough", retry.Policy{MaxAttempts: 4, MaxElapsed: time.Minute, Backoff: backoff}, old, 2, 3 * s},
			{"too old", retry.Policy{MaxAttempts: 4, MaxElapsed: time.Minute, Backoff: backoff}, old, 3, 0},
			{"no time", retry.Policy{MaxAttempts: 4, MaxElapsed: time.Second, Backoff: backoff}, timeless, 3, 5 * s},
		}
		for _, tt := range tests {
			boom := errors.New("boom")
			ctx := eventbus.ContextWithDelivery(context.Background(), &eventbus.DeliveryInfo{Attempt: tt.attempt})
			err := eventbus.Retry(tt.policy)(func(context.Context, *eventbus.Message) error { return boom })(ctx, tt.msg)
			var re *eventbus.RetryError
			var ex *eventbus.ExhaustedError
			switch {
			case tt.delay > 0 && (!errors.As(err, &re) || re.Delay != tt.delay || !errors.Is(err, boom)):
				t.Errorf("%s: attempt %d returned %v, want a RetryError of %v", tt.name, tt.attempt, err, tt.delay)
			case tt.delay == 0 && (!retry.IsPermanent(err) || !errors.As(err, &ex) || ex.Attempts != tt.attempt || !errors.Is(err, boom)):
				t.Errorf("%s: attempt %d returned %v, want a permanent ExhaustedError", tt.name, tt.attempt, err)
			}
		}
	})
}

// Retry always ends: a policy bounded only by MaxElapsed ends for a
// message without a Time too, and an invalid policy fails every delivery
// for good with its reason instead of redelivering without end.
func TestRetryAlwaysEnds(t *testing.T) {
	boom := errors.New("boom")
	failing := func(context.Context, *eventbus.Message) error { return boom }
	timeless := &eventbus.Message{ID: "1", Type: "t"}
	fixed := retry.Backoff{Initial: 100 * time.Millisecond, Max: 100 * time.Millisecond, Jitter: retry.NoJitter}
	tests := []struct {
		name   string
		policy retry.Policy
		last   int // the last attempt that may be retried; 0: none
	}{
		{"unlimited attempts, one second", retry.Policy{MaxAttempts: -1, MaxElapsed: time.Second, Backoff: fixed}, 10},
		{"unlimited attempts, no limit of time", retry.Policy{MaxAttempts: -1, Backoff: fixed}, 0},
		{"negative max elapsed", retry.Policy{MaxAttempts: 3, MaxElapsed: -time.Second, Backoff: fixed}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw := eventbus.Retry(tt.policy)(failing)
			for attempt := 1; attempt <= 1000; attempt++ {
				ctx := eventbus.ContextWithDelivery(context.Background(), &eventbus.DeliveryInfo{Attempt: attempt})
				err := mw(ctx, timeless)
				if !retry.IsPermanent(err) {
					continue
				}
				if attempt != tt.last+1 {
					t.Fatalf("attempt %d ended the retries (%v), want attempt %d", attempt, err, tt.last+1)
				}
				if tt.last == 0 && !errors.Is(err, retry.ErrInvalidOption) {
					t.Fatalf("an invalid policy failed with %v, want retry.ErrInvalidOption", err)
				}
				return
			}
			t.Fatal("1000 attempts and the retries never ended")
		})
	}
}

func TestRetryPassesPermanentAndOwnDelay(t *testing.T) {
	mw := eventbus.Retry(retry.Policy{MaxAttempts: 2, Backoff: retry.Backoff{Initial: time.Second, Jitter: retry.NoJitter}})
	ctx := eventbus.ContextWithDelivery(context.Background(), &eventbus.DeliveryInfo{Attempt: 1})
	perm := retry.Permanent(errors.New("bad"))
	if err := mw(func(context.Context, *eventbus.Message) error { return perm })(ctx, nil); err != perm {
		t.Errorf("permanent error became %v", err)
	}
	own := &eventbus.RetryError{Err: errors.New("busy"), Delay: time.Minute}
	if err := mw(func(context.Context, *eventbus.Message) error { return own })(ctx, nil); err != own {
		t.Errorf("own delay became %v", err)
	}
	last := eventbus.ContextWithDelivery(context.Background(), &eventbus.DeliveryInfo{Attempt: 2})
	err := mw(func(context.Context, *eventbus.Message) error { return own })(last, nil)
	var ex *eventbus.ExhaustedError
	if !retry.IsPermanent(err) || !errors.As(err, &ex) || ex.Attempts != 2 {
		t.Errorf("last attempt returned %v, want permanent ExhaustedError", err)
	}
}

func TestRecoverRetriesPanics(t *testing.T) {
	bus := newBus(t)
	done := make(sink, 1)
	var calls atomic.Int32
	var sawPanic atomic.Bool
	startRouter(t, bus, "g", "job.run", func(ctx context.Context, m *eventbus.Message) error {
		if calls.Add(1) == 1 {
			panic("nil map")
		}
		return done.handler(ctx, m)
	}, eventbus.WithMiddleware(func(next eventbus.Handler) eventbus.Handler {
		return func(ctx context.Context, m *eventbus.Message) error {
			err := next(ctx, m)
			var pe *eventbus.PanicError
			if errors.As(err, &pe) && pe.Value == "nil map" && len(pe.Stack) > 0 {
				sawPanic.Store(true)
			}
			return err
		}
	}, eventbus.Recover()))
	m := publish(t, bus, "job.run", 1)
	if got := done.next(t); got.ID != m.ID || !sawPanic.Load() {
		t.Fatalf("got %s, panic seen %v", got.ID, sawPanic.Load())
	}
}

func TestTimeout(t *testing.T) {
	h := eventbus.Timeout(time.Millisecond)(func(ctx context.Context, _ *eventbus.Message) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if err := h(context.Background(), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	noop := func(context.Context, *eventbus.Message) error { return nil }
	if err := eventbus.Timeout(0)(noop)(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestCorrelationFlowsThroughHandlers(t *testing.T) {
	bus := newBus(t)
	pub := eventbus.CorrelatedPublisher(bus)
	out := make(sink, 1)
	startRouter(t, bus, "orders", "order.placed", func(ctx context.Context, m *eventbus.Message) error {
		next, err := eventbus.NewMessage("payment.requested", map[string]int{"n": 1})
		if err != nil {
			return err
		}
		return pub.Publish(ctx, next)
	}, eventbus.WithMiddleware(eventbus.Correlate()))
	startRouter(t, bus, "payments", "payment.requested", out.handler, eventbus.WithMiddleware(eventbus.Correlate()))
	first := publish(t, bus, "order.placed", 1)
	if got := out.next(t); got.Metadata[eventbus.MetaCorrelationID] != first.ID {
		t.Fatalf("correlation id %q, want the first message's ID %q", got.Metadata[eventbus.MetaCorrelationID], first.ID)
	}
}
