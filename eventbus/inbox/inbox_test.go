package inbox_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/inbox"
	"github.com/go-microkit/microkit/eventbus/memory"
)

// TestMemorySteps walks the store's state machine in a testing/synctest
// bubble, whose clock moves only when a step sleeps.
func TestMemorySteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := inbox.NewMemory(time.Minute)
		steps := []struct {
			name    string
			advance time.Duration
			op      string // begin, commit, abort
			key     string
			want    inbox.Status
			wantLen int
		}{
			{"first delivery claims", 0, "begin", "a", inbox.Claimed, 1},
			{"concurrent duplicate is in flight", 0, "begin", "a", inbox.InFlight, 1},
			{"handler failed", 0, "abort", "a", 0, 0},
			{"redelivery claims again", 0, "begin", "a", inbox.Claimed, 1},
			{"handler succeeded", 0, "commit", "a", 0, 1},
			{"duplicate is skipped", 30 * time.Second, "begin", "a", inbox.Processed, 1},
			{"abort of a processed key keeps it", 0, "abort", "a", 0, 1},
			{"other key claims", 0, "begin", "b", inbox.Claimed, 2},
			{"other key done", 0, "commit", "b", 0, 2},
			{"after the TTL a is forgotten", 31 * time.Second, "begin", "a", inbox.Claimed, 2},
			{"after its TTL b is forgotten", time.Minute, "abort", "a", 0, 0},
		}
		for _, s := range steps {
			time.Sleep(s.advance)
			var (
				got inbox.Status
				err error
			)
			switch s.op {
			case "begin":
				got, err = m.Begin(ctx, s.key)
			case "commit":
				err = m.Commit(ctx, s.key)
			case "abort":
				err = m.Abort(ctx, s.key)
			}
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if got != s.want {
				t.Fatalf("%s: status %v, want %v", s.name, got, s.want)
			}
			if n := m.Len(); n != s.wantLen {
				t.Fatalf("%s: Len %d, want %d", s.name, n, s.wantLen)
			}
		}
	})
}

// TestDedupeWithRouter: a message published twice (an outbox relay that
// re-published it) is handled once per group; a failed attempt does not
// count as processed.
func TestDedupeWithRouter(t *testing.T) {
	ctx := context.Background()
	bus, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close(context.Background())
	store := inbox.NewMemory(time.Hour)
	var runs atomic.Int32
	var failed atomic.Bool
	done := make(chan string, 10)
	r, err := eventbus.NewRouter(bus, "billing", eventbus.WithConcurrency(4), eventbus.WithMiddleware(inbox.Dedupe(store, inbox.WithInFlightDelay(time.Millisecond))))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Handle("order.created", func(ctx context.Context, m *eventbus.Message) error {
		if failed.CompareAndSwap(false, true) {
			return errors.New("first attempt fails")
		}
		runs.Add(1)
		done <- m.ID
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	m, _ := eventbus.NewMessage("order.created", map[string]string{"orderId": "o-1"})
	for range 3 {
		if err := bus.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("handler never succeeded")
	}
	// Close drains every delivery: the duplicates were settled by then.
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("handler succeeded %d times for one message, want once", n)
	}
}

// TestDedupePanicReleases: a panicking handler releases its claim.
func TestDedupePanicReleases(t *testing.T) {
	store := inbox.NewMemory(time.Hour)
	h := eventbus.Recover()(inbox.Dedupe(store)(func(context.Context, *eventbus.Message) error { panic("boom") }))
	m := &eventbus.Message{ID: "1", Type: "a"}
	var wg sync.WaitGroup
	wg.Go(func() {
		var pe *eventbus.PanicError
		if err := h(context.Background(), m); !errors.As(err, &pe) {
			t.Errorf("err = %v, want a PanicError", err)
		}
	})
	wg.Wait()
	if st, _ := store.Begin(context.Background(), inbox.Key(context.Background(), m)); st != inbox.Claimed {
		t.Fatalf("after a panic the message is %v, want claimable", st)
	}
}

// failingCommit is a store whose Commit fails once, as a database can.
type failingCommit struct {
	*inbox.Memory
	failed atomic.Bool
}

func (s *failingCommit) Commit(ctx context.Context, key string) error {
	if s.failed.CompareAndSwap(false, true) {
		return errors.New("commit lost")
	}
	return s.Memory.Commit(ctx, key)
}

// A claim whose Commit failed is released: the redelivery runs the handler
// again (at least once) instead of finding the message in flight forever.
func TestDedupeCommitFailureReleases(t *testing.T) {
	store := &failingCommit{Memory: inbox.NewMemory(time.Hour)}
	runs := 0
	h := inbox.Dedupe(store)(func(context.Context, *eventbus.Message) error {
		runs++
		return nil
	})
	ctx := context.Background()
	msg := &eventbus.Message{ID: "m1", Type: "a.b"}
	if err := h(ctx, msg); err == nil {
		t.Fatal("a failed Commit must fail the delivery")
	}
	if err := h(ctx, msg); err != nil {
		t.Fatalf("redelivery after a failed Commit = %v, want it handled", err)
	}
	if err := h(ctx, msg); err != nil || runs != 2 {
		t.Fatalf("third delivery = %v, runs %d; want skipped after 2 runs", err, runs)
	}
}
