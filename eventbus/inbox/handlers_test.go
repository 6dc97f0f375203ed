package inbox_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/inbox"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/retry"
)

// runs counts handler runs per handler name, safe for concurrent use.
type runs struct {
	mu   sync.Mutex
	n    map[string]int
	done chan string
}

func newRuns() *runs { return &runs{n: map[string]int{}, done: make(chan string, 16)} }

func (r *runs) handler(name string, fail func(n int) error) eventbus.Handler {
	return func(ctx context.Context, m *eventbus.Message) error {
		r.mu.Lock()
		r.n[name]++
		n := r.n[name]
		r.mu.Unlock()
		if fail != nil {
			if err := fail(n); err != nil {
				return err
			}
		}
		r.done <- name
		return nil
	}
}

func (r *runs) wait(t *testing.T, name string) {
	t.Helper()
	select {
	case got := <-r.done:
		if got != name {
			t.Fatalf("handler %s finished, want %s", got, name)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("handler %s never finished", name)
	}
}

func (r *runs) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[name]
}

func newBus(t *testing.T) *memory.Bus {
	t.Helper()
	bus, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close(context.Background()) })
	return bus
}

// TestDedupeOverlappingPatterns: a router whose handlers for "order.>"
// and "order.created" both match a message runs each of them once under
// Dedupe, and skips both on a duplicate.
func TestDedupeOverlappingPatterns(t *testing.T) {
	ctx := context.Background()
	bus := newBus(t)
	r, err := eventbus.NewRouter(bus, "billing", eventbus.WithMiddleware(inbox.Dedupe(inbox.NewMemory(time.Hour))))
	if err != nil {
		t.Fatal(err)
	}
	rs := newRuns()
	for _, p := range []string{"order.>", "order.created"} {
		if err := r.Handle(p, rs.handler(p, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	m, _ := eventbus.NewMessage("order.created", 1)
	if err := bus.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 2 {
		select {
		case name := <-rs.done:
			got[name] = true
		case <-time.After(20 * time.Second):
			t.Fatalf("handlers that ran: %v, want both", got)
		}
	}
	if err := bus.Publish(ctx, m); err != nil { // a duplicate
		t.Fatal(err)
	}
	if err := r.Close(ctx); err != nil { // drains the duplicate
		t.Fatal(err)
	}
	for _, p := range []string{"order.>", "order.created"} {
		if n := rs.count(p); n != 1 {
			t.Errorf("handler %s ran %d times, want once", p, n)
		}
	}
}

// TestDedupeForgetsParked: Dedupe outside DeadLetter does not mark a
// message that DeadLetter parked as processed, so its replay runs the
// handler.
func TestDedupeForgetsParked(t *testing.T) {
	ctx := context.Background()
	bus := newBus(t)
	parked := make(chan struct{}, 1)
	r, err := eventbus.NewRouter(bus, "billing", eventbus.WithMiddleware(
		inbox.Dedupe(inbox.NewMemory(time.Hour)),
		eventbus.DeadLetter(eventbus.PublisherFunc(func(context.Context, ...*eventbus.Message) error {
			parked <- struct{}{}
			return nil
		})),
	))
	if err != nil {
		t.Fatal(err)
	}
	rs := newRuns()
	if err := r.Handle("order.created", rs.handler("order.created", func(n int) error {
		if n == 1 {
			return retry.Permanent(errors.New("unknown currency"))
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	m, _ := eventbus.NewMessage("order.created", 1)
	if err := bus.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	select {
	case <-parked:
	case <-time.After(20 * time.Second):
		t.Fatal("never parked")
	}
	if err := bus.Publish(ctx, m); err != nil { // the replay, same ID
		t.Fatal(err)
	}
	rs.wait(t, "order.created")
}
