package dlq_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/dlq"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
	"github.com/go-microkit/microkit/retry"
)

// TestReplayInsideDuplicateWindow: on NATS JetStream, which drops a
// message whose ID it saw in the last two minutes, a dead letter replayed
// at once still reaches its handler, and so does a second replay; each
// replay that fails again is parked as a new entry.
func TestReplayInsideDuplicateWindow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := natstest.Run(t)
	bus, err := natsbus.Connect(ctx, srv.URL(), natsbus.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close(context.Background())
	store := openStore(t)
	quiet := eventbus.WithLogger(slog.New(slog.DiscardHandler))
	collector, _ := eventbus.NewRouter(bus, "microkit-dlq", quiet)
	if err := collector.Handle(eventbus.DeadLetterPrefix+">", store.Handler()); err != nil {
		t.Fatal(err)
	}
	if err := collector.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer collector.Close(ctx)
	var calls atomic.Int32
	handled := make(chan *eventbus.Message, 1)
	billing, _ := eventbus.NewRouter(bus, "billing", quiet, eventbus.WithMiddleware(
		eventbus.DeadLetter(bus, eventbus.DeadLetterLogger(slog.New(slog.DiscardHandler)))))
	if err := billing.Handle("order.created", func(_ context.Context, m *eventbus.Message) error {
		if calls.Add(1) < 3 {
			return retry.Permanent(errors.New("ledger closed"))
		}
		handled <- m
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := billing.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer billing.Close(ctx)

	m, _ := eventbus.NewMessage("order.created", 1)
	if err := bus.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	first := waitEntries(t, store, dlq.Filter{OriginalID: m.ID}, 1)
	if err := store.Replay(ctx, bus, first[0].ID); err != nil { // fails again: a second entry
		t.Fatal(err)
	}
	second := waitEntries(t, store, dlq.Filter{OriginalID: m.ID}, 1)
	if second[0].ID == first[0].ID {
		t.Fatalf("the replay's failure was not parked as a new entry: %+v", second)
	}
	if err := store.Replay(ctx, bus, second[0].ID); err != nil { // handled
		t.Fatal(err)
	}
	select {
	case got := <-handled:
		if got.ID != m.ID {
			t.Fatalf("handled %s, want the original ID %s", got.ID, m.ID)
		}
	case <-ctx.Done():
		t.Fatalf("the second replay was never handled (%d calls): the broker dropped it as a duplicate", calls.Load())
	}
}
