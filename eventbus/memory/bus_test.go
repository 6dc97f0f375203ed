package memory_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newMsg(t *testing.T, typ, subject string) *eventbus.Message {
	m, err := eventbus.NewMessage(typ, subject)
	if err != nil {
		t.Fatal(err)
	}
	m.Subject = subject
	return m
}

func TestNoGroupNoCopy(t *testing.T) {
	bus, _ := memory.New()
	defer bus.Close(context.Background())
	// Published before any group matches: dropped, as on a broker topic
	// without queues.
	early := newMsg(t, "order.created", "")
	if err := bus.Publish(ctxT(t), early); err != nil {
		t.Fatal(err)
	}
	sub, _ := bus.Subscribe(ctxT(t), "g", "order.created")
	late := newMsg(t, "order.created", "")
	_ = bus.Publish(ctxT(t), late)
	d, err := sub.Next(ctxT(t))
	if err != nil || d.Message().ID != late.ID {
		t.Fatalf("got %v, %v; want only the message published after the group existed", d, err)
	}
}

// A message whose redelivery is delayed holds back the later messages of
// its subject, and only those, until the delay has passed to the instant
// (in a testing/synctest bubble).
func TestDelayedRedeliveryKeepsSubjectOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus, _ := memory.New()
		defer bus.Close(context.Background())
		sub, _ := bus.Subscribe(ctxT(t), "g", "acct.>")
		a1, a2, b1 := newMsg(t, "acct.moved", "a"), newMsg(t, "acct.moved", "a"), newMsg(t, "acct.moved", "b")
		_ = bus.Publish(ctxT(t), a1, a2, b1)
		d, _ := sub.Next(ctxT(t))
		if d.Message().ID != a1.ID {
			t.Fatalf("first delivery %s, want a1", d.Message().ID)
		}
		if err := d.Nack(ctxT(t), time.Minute); err != nil {
			t.Fatal(err)
		}
		// a2 waits behind a1; b1 does not.
		d, _ = sub.Next(ctxT(t))
		if d.Message().ID != b1.ID {
			t.Fatalf("got %s, want b1 while a1 waits", d.Message().ID)
		}
		_ = d.Ack(ctxT(t))
		nothingReady := func(when string) {
			t.Helper()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := sub.Next(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: Next = %v, want nothing ready (a2 must wait for a1)", when, err)
			}
		}
		nothingReady("right after the nack")
		time.Sleep(time.Minute - time.Nanosecond)
		synctest.Wait()
		nothingReady("just before the delay ends")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		for _, want := range []*eventbus.Message{a1, a2} {
			d, _ = sub.Next(ctxT(t))
			if d.Message().ID != want.ID {
				t.Fatalf("got %s, want %s", d.Message().ID, want.ID)
			}
			_ = d.Ack(ctxT(t))
		}
	})
}

func TestDeliveriesAreCopies(t *testing.T) {
	bus, _ := memory.New()
	defer bus.Close(context.Background())
	one, _ := bus.Subscribe(ctxT(t), "one", "a.b")
	two, _ := bus.Subscribe(ctxT(t), "two", "a.b")
	m := newMsg(t, "a.b", "")
	m.Metadata = map[string]string{"k": "v"}
	_ = bus.Publish(ctxT(t), m)
	d1, _ := one.Next(ctxT(t))
	d1.Message().Metadata["k"] = "changed"
	_ = d1.Nack(ctxT(t), 0)
	d2, _ := two.Next(ctxT(t))
	again, _ := one.Next(ctxT(t))
	if d2.Message().Metadata["k"] != "v" || again.Message().Metadata["k"] != "v" {
		t.Fatal("a handler's change to its message leaked into another delivery")
	}
}

func TestCloseEndsEverything(t *testing.T) {
	bus, _ := memory.New()
	c := bus.Client()
	sub, _ := c.Subscribe(ctxT(t), "g", "a.b")
	_ = c.Publish(ctxT(t), newMsg(t, "a.b", ""))
	d, _ := sub.Next(ctxT(t))
	waiting := make(chan error, 1)
	other, _ := bus.Subscribe(ctxT(t), "h", "x.y")
	go func() {
		_, err := other.Next(context.Background())
		waiting <- err
	}()
	if err := bus.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; !errors.Is(err, eventbus.ErrClosed) {
		t.Fatalf("blocked Next after Close = %v", err)
	}
	if err := d.Ack(ctxT(t)); !errors.Is(err, eventbus.ErrStaleDelivery) {
		t.Fatalf("Ack after Close = %v", err)
	}
	if err := bus.Publish(ctxT(t), newMsg(t, "a.b", "")); !errors.Is(err, eventbus.ErrClosed) {
		t.Fatalf("Publish after Close = %v", err)
	}
	if _, err := bus.Client().Subscribe(ctxT(t), "g", "a.b"); !errors.Is(err, eventbus.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v", err)
	}
	if err := bus.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := bus.Publish(cancelled, newMsg(t, "a.b", "")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled context = %v", err)
	}
}

// lateCancelCtx is a context whose Done channel never closes but whose Err
// turns non-nil on cancel, and which reports when Next waits on it: it
// makes a consumer wake up for a message and then find itself cancelled,
// the interleaving in which a wake-up could be lost.
type lateCancelCtx struct {
	context.Context
	waiting  chan struct{}
	canceled chan struct{}
}

func (c *lateCancelCtx) Done() <-chan struct{} {
	select {
	case c.waiting <- struct{}{}:
	default:
	}
	return nil
}

func (c *lateCancelCtx) Err() error {
	select {
	case <-c.canceled:
		return context.Canceled
	default:
		return nil
	}
}

// A consumer that takes the wake-up for a message and then returns because
// its context ended must pass the wake-up on: another instance of the
// group, already waiting, gets the message.
func TestCancelledNextPassesWakeUpOn(t *testing.T) {
	for range 20 {
		bus, _ := memory.New()
		a, _ := bus.Client().Subscribe(ctxT(t), "g", "a.b")
		b, _ := bus.Client().Subscribe(ctxT(t), "g", "a.b")
		actx := &lateCancelCtx{Context: context.Background(), waiting: make(chan struct{}, 1), canceled: make(chan struct{})}
		aerr := make(chan error, 1)
		go func() {
			_, err := a.Next(actx)
			aerr <- err
		}()
		<-actx.waiting // a waits for a message
		close(actx.canceled)
		bctx := &lateCancelCtx{Context: ctxT(t), waiting: make(chan struct{}, 1), canceled: make(chan struct{})}
		bgot := make(chan eventbus.Delivery, 1)
		go func() {
			d, _ := b.Next(bctx)
			bgot <- d
		}()
		<-bctx.waiting // b waits too
		if err := bus.Publish(ctxT(t), newMsg(t, "a.b", "")); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-bgot:
			if d == nil {
				t.Fatal("waiting consumer got no delivery")
			}
		case <-ctxT(t).Done():
			t.Fatal("the waiting consumer never got the message: the cancelled one swallowed its wake-up")
		}
		_ = bus.Close(context.Background()) // ends a's Next if b took the wake-up itself
		if err := <-aerr; !errors.Is(err, context.Canceled) && !errors.Is(err, eventbus.ErrClosed) {
			t.Fatalf("cancelled Next = %v", err)
		}
	}
}
