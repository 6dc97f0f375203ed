package eventbus_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newBus(t *testing.T, opts ...memory.Option) *memory.Bus {
	t.Helper()
	b, err := memory.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startRouter starts a router on bus for group with h on pattern.
func startRouter(t *testing.T, bus eventbus.Subscriber, group, pattern string, h eventbus.Handler, opts ...eventbus.RouterOption) *eventbus.Router {
	t.Helper()
	r, err := eventbus.NewRouter(bus, group, append([]eventbus.RouterOption{eventbus.WithLogger(quiet())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Handle(pattern, h); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func publish(t *testing.T, p eventbus.Publisher, typ string, payload any) *eventbus.Message {
	t.Helper()
	m, err := eventbus.NewMessage(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	return m
}

// sink receives messages from handlers.
type sink chan *eventbus.Message

func (s sink) handler(ctx context.Context, m *eventbus.Message) error {
	s <- m
	return nil
}

func (s sink) next(t *testing.T) *eventbus.Message {
	t.Helper()
	select {
	case m := <-s:
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no message")
		return nil
	}
}
