package eventbus_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
)

func TestRouterRejectsMisuse(t *testing.T) {
	bus := newBus(t)
	noop := func(context.Context, *eventbus.Message) error { return nil }
	if _, err := eventbus.NewRouter(nil, "g"); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Errorf("nil subscriber: %v", err)
	}
	if _, err := eventbus.NewRouter(bus, "bad group"); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Errorf("bad group: %v", err)
	}
	for name, opt := range map[string]eventbus.RouterOption{
		"concurrency": eventbus.WithConcurrency(0),
	} {
		if _, err := eventbus.NewRouter(bus, "g", opt); !errors.Is(err, eventbus.ErrInvalidOption) {
			t.Errorf("%s: %v", name, err)
		}
	}
	r, err := eventbus.NewRouter(bus, "g", eventbus.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctxT(t)); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Errorf("Start without handlers: %v", err)
	}
	if err := r.Handle("a.*.>", noop); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"bad pattern": r.Handle("a..b", noop),
		"nil handler": r.Handle("a.b", nil),
		"duplicate":   r.Handle("a.*.>", noop),
		"bad option":  r.Handle("x", noop, eventbus.HandlerConcurrency(-1)),
		"bad name":    r.Handle("y", noop, eventbus.HandlerName("")),
		"bad fetch":   r.Handle("z", noop, eventbus.HandlerPrefetch(0)),
	} {
		if !errors.Is(err, eventbus.ErrInvalidOption) && !errors.Is(err, eventbus.ErrInvalidPattern) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := r.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := r.Handle("late", noop); !errors.Is(err, eventbus.ErrRouterStarted) {
		t.Errorf("Handle after Start: %v", err)
	}
	if err := r.Start(ctxT(t)); !errors.Is(err, eventbus.ErrRouterStarted) {
		t.Errorf("second Start: %v", err)
	}
	for range 2 {
		if err := r.Close(ctxT(t)); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if err := r.Start(ctxT(t)); !errors.Is(err, eventbus.ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
}

func TestRouterCloseDeadlineCancelsHandlers(t *testing.T) {
	bus := newBus(t)
	started := make(chan struct{})
	var attempts atomic.Int32
	r := startRouter(t, bus, "g", "job.run", func(ctx context.Context, m *eventbus.Message) error {
		if attempts.Add(1) == 1 {
			close(started)
		}
		<-ctx.Done() // a handler stuck until shutdown gives up on it
		return ctx.Err()
	})
	m := publish(t, bus, "job.run", 1)
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want context.Canceled", err)
	}
	// The cancelled handler's message was not acknowledged: a new instance
	// of the group gets it again.
	again := make(sink, 1)
	startRouter(t, bus, "g", "job.run", again.handler)
	if got := again.next(t); got.ID != m.ID {
		t.Fatalf("got %s, want %s redelivered", got.ID, m.ID)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	bus := newBus(t)
	// Subscribing once creates the group's durable queue, so a message
	// published before Run subscribes is kept for it.
	sub, err := bus.Subscribe(ctxT(t), "g", "a.b")
	if err != nil {
		t.Fatal(err)
	}
	_ = sub.Close()
	m := publish(t, bus, "a.b", 1)
	infos := make(chan eventbus.DeliveryInfo, 1)
	r, err := eventbus.NewRouter(bus, "g", eventbus.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Handle("a.b", func(ctx context.Context, m *eventbus.Message) error {
		info, _ := eventbus.DeliveryFromContext(ctx)
		infos <- *info
		return nil
	}, eventbus.HandlerName("ab"), eventbus.HandlerConcurrency(3), eventbus.HandlerPrefetch(2)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	info := <-infos
	if info.Group != "g" || info.Pattern != "a.b" || info.Handler != "ab" || info.Attempt != 1 || info.Message.ID != m.ID {
		t.Fatalf("DeliveryInfo = %+v", info)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestHandlerMiddlewareAndDeadLetterType(t *testing.T) {
	bus := newBus(t)
	parked, err := bus.Subscribe(ctxT(t), "ops", "parked.>")
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	mark := func(name string) eventbus.Middleware {
		return func(next eventbus.Handler) eventbus.Handler {
			return func(ctx context.Context, m *eventbus.Message) error {
				order = append(order, name) // concurrency 1: no race
				return next(ctx, m)
			}
		}
	}
	r, err := eventbus.NewRouter(bus, "g", eventbus.WithLogger(quiet()), eventbus.WithMiddleware(mark("router"),
		eventbus.DeadLetter(bus, eventbus.DeadLetterType(func(m *eventbus.Message) string { return "parked." + m.Type }),
			eventbus.DeadLetterLogger(quiet()))))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Handle("job.run", func(ctx context.Context, m *eventbus.Message) error {
		return retry.Permanent(errors.New("unprocessable"))
	}, eventbus.HandlerMiddleware(mark("handler"))); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	m := publish(t, bus, "job.run", 1)
	d, err := parked.Next(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if d.Message().Type != "parked.job.run" || d.Message().Metadata[eventbus.MetaDeadLetterOriginalID] != m.ID {
		t.Fatalf("parked %+v", d.Message())
	}
	if err := r.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if len(order) != 2 || order[0] != "router" || order[1] != "handler" {
		t.Fatalf("middleware ran in order %v, want router then handler", order)
	}
}

func TestPermanentHelpers(t *testing.T) {
	if retry.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) is not nil")
	}
	base := errors.New("x")
	p := retry.Permanent(base)
	if retry.Permanent(p) != p || !errors.Is(p, base) || !retry.IsPermanent(p) || retry.IsPermanent(base) {
		t.Fatal("Permanent does not wrap once and unwrap")
	}
	pe := &eventbus.PanicError{Value: base}
	if !errors.Is(pe, base) {
		t.Fatal("PanicError does not unwrap an error value")
	}
}

// TestNilOptionArgumentsMeanDefaults: a nil logger is slog.Default() and
// nil middleware is none; the router runs and logs a dropped message
// instead of failing or panicking.
func TestNilOptionArgumentsMeanDefaults(t *testing.T) {
	bus := newBus(t)
	done := make(chan struct{})
	r, err := eventbus.NewRouter(bus, "g", eventbus.WithLogger(nil), eventbus.WithMiddleware(nil, eventbus.Recover(), nil))
	if err != nil {
		t.Fatalf("NewRouter with nil arguments: %v", err)
	}
	if err := r.Handle("a.b", func(context.Context, *eventbus.Message) error {
		defer close(done)
		return retry.Permanent(errors.New("logged by the default logger"))
	}, eventbus.HandlerMiddleware(nil)); err != nil {
		t.Fatalf("Handle with nil middleware: %v", err)
	}
	if err := r.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	publish(t, bus, "a.b", 1)
	<-done
	if err := r.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}
