package eventbus_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// nextOnly hides any NextBatch of the subscription it wraps, so that
// FetchBatch takes its fallback.
type nextOnly struct{ eventbus.Subscription }

// TestFetchBatchFallback checks FetchBatch's gathering from Next against
// BatchSubscription's contract, in a testing/synctest bubble whose clock
// measures the window.
func TestFetchBatchFallback(t *testing.T) {
	tests := []struct {
		name      string
		published int // before the call
		later     int // published once the call waits for more
		max       int
		wait      time.Duration
		want      int
		waited    time.Duration
	}{
		{name: "full batch at once", published: 5, max: 3, wait: time.Second, want: 3},
		{name: "window ends with what came", published: 2, max: 5, wait: time.Second, want: 2, waited: time.Second},
		{name: "later arrivals fill the batch", published: 1, later: 2, max: 3, wait: time.Second, want: 3},
		{name: "zero wait returns the first", published: 3, max: 3, wait: 0, want: 1},
		{name: "max below one counts as one", published: 3, max: 0, wait: time.Second, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				bus := newBus(t)
				sub, err := bus.Subscribe(t.Context(), "g", "order.created")
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Close()
				for range tt.published {
					publish(t, bus, "order.created", orderCreated{OrderID: "o"})
				}
				type result struct {
					batch  []eventbus.Delivery
					err    error
					waited time.Duration
				}
				done := make(chan result, 1)
				start := time.Now()
				go func() {
					b, err := eventbus.FetchBatch(t.Context(), nextOnly{sub}, tt.max, tt.wait)
					done <- result{b, err, time.Since(start)}
				}()
				synctest.Wait()
				for range tt.later {
					publish(t, bus, "order.created", orderCreated{OrderID: "o"})
				}
				res := <-done
				if res.err != nil {
					t.Fatal(res.err)
				}
				if len(res.batch) != tt.want || res.waited != tt.waited {
					t.Fatalf("got %d deliveries after %v, want %d after %v", len(res.batch), res.waited, tt.want, tt.waited)
				}
				for _, d := range res.batch {
					if err := d.Ack(t.Context()); err != nil {
						t.Fatal(err)
					}
				}
			})
		})
	}
}

// TestFetchBatchFallbackErrors checks that errors come only before the
// first delivery, and that deliveries gathered before the subscription
// closes are returned.
func TestFetchBatchFallbackErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := newBus(t)
		sub, err := bus.Subscribe(t.Context(), "g", "order.created")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if b, err := eventbus.FetchBatch(ctx, nextOnly{sub}, 3, time.Second); !errors.Is(err, context.Canceled) || b != nil {
			t.Fatalf("cancelled: got %d deliveries, %v; want none, context.Canceled", len(b), err)
		}

		publish(t, bus, "order.created", orderCreated{OrderID: "o"})
		done := make(chan []eventbus.Delivery, 1)
		go func() {
			b, err := eventbus.FetchBatch(t.Context(), nextOnly{sub}, 3, time.Hour)
			if err != nil {
				t.Error(err)
			}
			done <- b
		}()
		synctest.Wait() // it holds one delivery and waits for more
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
		if b := <-done; len(b) != 1 {
			t.Fatalf("closed in the window: got %d deliveries, want the 1 gathered", len(b))
		}
		if b, err := eventbus.FetchBatch(t.Context(), nextOnly{sub}, 3, time.Second); !errors.Is(err, eventbus.ErrClosed) || b != nil {
			t.Fatalf("after close: got %d deliveries, %v; want none, ErrClosed", len(b), err)
		}
	})
}
