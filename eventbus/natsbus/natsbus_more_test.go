package natsbus_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func next(t *testing.T, sub eventbus.Subscription) eventbus.Delivery {
	t.Helper()
	d, err := sub.Next(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDeduplicatesByMessageID(t *testing.T) {
	srv := natstest.Run(t)
	b := connect(t, srv.URL())
	sub, err := b.Subscribe(ctxT(t), "g", "order.created")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := eventbus.NewMessage("order.created", 1)
	// A publish retried after a lost acknowledgement carries the same ID.
	for range 3 {
		if err := b.Publish(ctxT(t), m); err != nil {
			t.Fatal(err)
		}
	}
	marker, _ := eventbus.NewMessage("order.created", 2)
	if err := b.Publish(ctxT(t), marker); err != nil {
		t.Fatal(err)
	}
	if d := next(t, sub); d.Message().ID != m.ID {
		t.Fatalf("first delivery %s, want %s", d.Message().ID, m.ID)
	}
	if d := next(t, sub); d.Message().ID != marker.ID {
		t.Fatalf("second delivery %s, want the marker: the duplicate was stored", d.Message().ID)
	}
}

func TestForeignAndUndecodableMessages(t *testing.T) {
	srv := natstest.Run(t)
	b := connect(t, srv.URL())
	sub, err := b.Subscribe(ctxT(t), "g", "order.>")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// A producer that is not natsbus: no envelope headers at all.
	if _, err := js.Publish(ctxT(t), "events.order.imported", []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	// A message whose envelope cannot be read would loop forever: the bus
	// terminates it and goes on.
	bad := &nats.Msg{Subject: "events.order.broken", Header: nats.Header{"ce-time": []string{"not a time"}}}
	if _, err := js.PublishMsg(ctxT(t), bad); err != nil {
		t.Fatal(err)
	}
	good, _ := eventbus.NewMessage("order.created", 3)
	if err := b.Publish(ctxT(t), good); err != nil {
		t.Fatal(err)
	}
	d := next(t, sub)
	if m := d.Message(); m.Type != "order.imported" || m.ID == "" || string(m.Data) != `{"x":1}` {
		t.Fatalf("foreign message decoded as %+v", m)
	}
	_ = d.Ack(ctxT(t))
	if d := next(t, sub); d.Message().ID != good.ID {
		t.Fatalf("got %s, want the good message after the undecodable one", d.Message().ID)
	}
}

func TestBindStream(t *testing.T) {
	srv := natstest.Run(t)
	if _, err := natsbus.Connect(ctxT(t), srv.URL(), natsbus.WithBindStream(), natsbus.WithStream("MISSING")); err == nil {
		t.Fatal("bound to a missing stream")
	}
	// Provision once, then bind.
	connect(t, srv.URL(), natsbus.WithStream("ORDERS"), natsbus.WithSubjectPrefix("orders"))
	b := connect(t, srv.URL(), natsbus.WithStream("ORDERS"), natsbus.WithSubjectPrefix("orders"), natsbus.WithBindStream())
	sub, err := b.Subscribe(ctxT(t), "g", "order.created")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := eventbus.NewMessage("order.created", 1)
	if err := b.Publish(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	if d := next(t, sub); d.Message().ID != m.ID {
		t.Fatalf("got %s", d.Message().ID)
	}
}

func TestNewOnCallerConnection(t *testing.T) {
	srv := natstest.Run(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := natsbus.New(ctxT(t), nil); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Fatalf("nil connection: %v", err)
	}
	b, err := natsbus.New(ctxT(t), nc, natsbus.WithStreamConfig(func(sc *jetstream.StreamConfig) { sc.Storage = jetstream.MemoryStorage }))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if nc.IsClosed() {
		t.Fatal("Close closed the caller's connection")
	}
	m, _ := eventbus.NewMessage("a.b", 1)
	if err := b.Publish(ctxT(t), m); !errors.Is(err, eventbus.ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	if _, err := b.Subscribe(ctxT(t), "g", "a.b"); !errors.Is(err, eventbus.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}

func TestConfirmedAcksAndMaxDeliver(t *testing.T) {
	srv := natstest.Run(t)
	b := connect(t, srv.URL(), natsbus.WithConfirmedAcks(), natsbus.WithMaxDeliver(2))
	sub, err := b.Subscribe(ctxT(t), "g", "job.run", eventbus.WithPrefetch(1))
	if err != nil {
		t.Fatal(err)
	}
	poison, _ := eventbus.NewMessage("job.run", 1)
	good, _ := eventbus.NewMessage("job.run", 2)
	if err := b.Publish(ctxT(t), poison, good); err != nil {
		t.Fatal(err)
	}
	// MaxDeliver is the broker's backstop: after two deliveries the poison
	// message is no longer delivered.
	seen := map[string]int{}
	for seen[good.ID] == 0 {
		d := next(t, sub)
		seen[d.Message().ID]++
		if d.Message().ID == poison.ID {
			if err := d.Nack(ctxT(t), 0); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := d.Ack(ctxT(t)); err != nil {
			t.Fatalf("confirmed Ack: %v", err)
		}
		if err := d.Ack(ctxT(t)); !errors.Is(err, eventbus.ErrStaleDelivery) {
			t.Fatalf("second Ack: %v", err)
		}
	}
	for seen[poison.ID] < 2 {
		d := next(t, sub)
		seen[d.Message().ID]++
		_ = d.Nack(ctxT(t), 0)
	}
	final, _ := eventbus.NewMessage("job.run", 3)
	if err := b.Publish(ctxT(t), final); err != nil {
		t.Fatal(err)
	}
	if d := next(t, sub); d.Message().ID != final.ID {
		t.Fatalf("got %s (attempt %d), want the next message: MaxDeliver did not stop redelivery", d.Message().ID, d.Attempt())
	}
}

func TestOptionsRejectInvalid(t *testing.T) {
	srv := natstest.Run(t)
	for name, opt := range map[string]natsbus.Option{
		"stream":          natsbus.WithStream(""),
		"stream with dot": natsbus.WithStream("EVENTS.v2"),
		"stream space":    natsbus.WithStream("my events"),
		"stream wildcard": natsbus.WithStream("EV*"),
		"prefix":          natsbus.WithSubjectPrefix("a.*"),
		"ack wait":        natsbus.WithAckWait(0),
		"max deliver":     natsbus.WithMaxDeliver(0),
		"max ack pending": natsbus.WithMaxAckPending(0),
		"prefetch":        natsbus.WithPrefetch(-1),
		"deliver policy":  natsbus.WithDeliverPolicy(jetstream.DeliverByStartSequencePolicy),
		"attempt timeout": natsbus.WithPublishAttemptTimeout(0),
	} {
		if _, err := natsbus.Connect(ctxT(t), srv.URL(), opt); !errors.Is(err, eventbus.ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
	b := connect(t, srv.URL(), natsbus.WithDeliverPolicy(jetstream.DeliverAllPolicy), natsbus.WithMaxAckPending(10),
		natsbus.WithPrefetch(8), natsbus.WithPublishAttemptTimeout(time.Second), natsbus.WithNATSOptions(nats.Name("test"), nil),
		// A nil argument means the default.
		natsbus.WithLogger(nil), natsbus.WithStreamConfig(nil))
	for _, n := range []int{0, -1, -64} {
		// An explicit prefetch is never taken as "the default".
		if sub, err := b.Subscribe(ctxT(t), "g", "a.b", eventbus.WithPrefetch(n)); !errors.Is(err, eventbus.ErrInvalidOption) {
			t.Errorf("Subscribe with prefetch %d = %v, want ErrInvalidOption", n, err)
			if sub != nil {
				_ = sub.Close()
			}
		}
	}
	m := &eventbus.Message{ID: "1", Type: "a.b", Metadata: map[string]string{"Nats-Msg-Id": "x"}}
	if err := b.Publish(ctxT(t), m); !errors.Is(err, eventbus.ErrInvalidMessage) {
		t.Errorf("reserved metadata key: %v", err)
	}
	m = &eventbus.Message{ID: "1", Type: "a.b", Metadata: map[string]string{"k": "line\nbreak"}}
	if err := b.Publish(ctxT(t), m); !errors.Is(err, eventbus.ErrInvalidMessage) {
		t.Errorf("newline in metadata: %v", err)
	}
}

func TestDurableName(t *testing.T) {
	a, b := natsbus.DurableName("billing", "order.*"), natsbus.DurableName("billing", "order.>")
	if a == b || a != natsbus.DurableName("billing", "order.*") {
		t.Fatalf("durable names %q %q", a, b)
	}
}

func TestPublishGivesUpOnPermanentErrors(t *testing.T) {
	srv := natstest.Run(t)
	b := connect(t, srv.URL())
	huge := &eventbus.Message{ID: eventbus.NewID(), Type: "a.b", Data: make([]byte, 2<<20)}
	for _, msgs := range [][]*eventbus.Message{{huge}, {huge, huge}} {
		// Retrying cannot make a message fit: Publish fails without waiting
		// for its context.
		if err := b.Publish(ctxT(t), msgs...); !errors.Is(err, nats.ErrMaxPayload) {
			t.Fatalf("Publish of %d oversized messages = %v, want ErrMaxPayload", len(msgs), err)
		}
	}
}

func TestDeliverAllReplaysForNewGroups(t *testing.T) {
	srv := natstest.Run(t)
	b := connect(t, srv.URL(), natsbus.WithDeliverPolicy(jetstream.DeliverAllPolicy))
	// Parked before anyone watched the dead-letter types.
	m := &eventbus.Message{ID: "p-1", Type: "deadletter.order.created"}
	if err := b.Publish(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	sub, err := b.Subscribe(ctxT(t), "ops", "deadletter.>")
	if err != nil {
		t.Fatal(err)
	}
	if d := next(t, sub); d.Message().ID != m.ID {
		t.Fatalf("got %s, want the message stored before the group existed", d.Message().ID)
	}
}

// TestCloseGivesUpWhenContextEnds: when the server stops answering (the
// connection stays up but nothing comes back), the drain of an owned
// connection cannot finish: nats.go would wait for it up to its drain
// timeout, 30s. Close returns the context's error when the context ends,
// with the bus closed.
func TestCloseGivesUpWhenContextEnds(t *testing.T) {
	srv := natstest.Run(t)
	px := newFreezingProxy(t, srv.URL())
	b := connect(t, px.URL())
	sub, err := b.Subscribe(ctxT(t), "g", "a.b")
	if err != nil {
		t.Fatal(err)
	}
	px.freeze()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := b.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with the server silent = %v, want the context's error", err)
	}
	if _, err := sub.Next(ctxT(t)); !errors.Is(err, eventbus.ErrClosed) {
		t.Errorf("Next after Close = %v, want ErrClosed", err)
	}
	if err := b.Publish(ctxT(t), &eventbus.Message{ID: "1", Type: "a.b"}); !errors.Is(err, eventbus.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

// freezingProxy forwards TCP connections to a server until freeze, after
// which it holds every byte either way: a server that hangs without
// closing its connections.
type freezingProxy struct {
	ln     net.Listener
	target string
	frozen atomic.Bool
	thaw   chan struct{}
}

func newFreezingProxy(t *testing.T, serverURL string) *freezingProxy {
	t.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{ln: ln, target: u.Host, thaw: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(p.thaw)
		_ = ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			wg.Go(func() { p.pipe(s, c) })
			wg.Go(func() { p.pipe(c, s) })
		}
	})
	return p
}

func (p *freezingProxy) URL() string { return "nats://" + p.ln.Addr().String() }

func (p *freezingProxy) freeze() { p.frozen.Store(true) }

// pipe copies from src to dst until either fails; frozen, it holds what it
// read until the test ends.
func (p *freezingProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.frozen.Load() {
			<-p.thaw
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
