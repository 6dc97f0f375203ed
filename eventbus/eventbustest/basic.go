package eventbustest

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

func (s *suite) publishConsume(t *testing.T) {
	in := s.connect(t)
	p := prefix()
	sn := s.subscribe(t, in.Subscriber, "billing", p+".order.created")
	want := &eventbus.Message{
		ID:              eventbus.NewID(),
		Type:            p + ".order.created",
		Source:          "/orders",
		Subject:         "order-42",
		Time:            time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		DataContentType: eventbus.JSONContentType,
		Data:            []byte(`{"orderId":"order-42","total":1250}`),
		Metadata:        map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "correlation-id": "c-1"},
	}
	sent := want.Clone()
	s.publish(t, in.Publisher, sent)
	sent.Metadata["changed-after-publish"] = "x" // the adapter must have copied it

	d := s.next(t, sn)
	got := d.Message()
	if got.ID != want.ID || got.Type != want.Type || got.Source != want.Source || got.Subject != want.Subject ||
		!got.Time.Equal(want.Time) || got.DataContentType != want.DataContentType || string(got.Data) != string(want.Data) {
		t.Fatalf("received %+v\nwant %+v", got, want)
	}
	if !maps.Equal(got.Metadata, want.Metadata) {
		t.Fatalf("metadata = %v, want %v", got.Metadata, want.Metadata)
	}
	if d.Attempt() != 1 {
		t.Fatalf("Attempt = %d, want 1", d.Attempt())
	}
	if err := d.Ack(s.ctx(t)); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := d.Ack(s.ctx(t)); err == nil {
		t.Fatal("second Ack of one delivery succeeded, want an error")
	}
	// The acknowledged message is not delivered again: the next delivery is
	// the next message.
	second := msg(p+".order.created", "", 2)
	s.publish(t, in.Publisher, second)
	d = s.next(t, sn)
	if d.Message().ID != second.ID {
		t.Fatalf("got %s after ack, want the next message %s", d.Message().ID, second.ID)
	}
	_ = d.Ack(s.ctx(t))
}

func (s *suite) patterns(t *testing.T) {
	in := s.connect(t)
	p := prefix()
	subs := map[string]eventbus.Subscription{
		"exact": s.subscribe(t, in.Subscriber, "exact", p+".order.created"),
		"star":  s.subscribe(t, in.Subscriber, "star", p+".order.*"),
		"tail":  s.subscribe(t, in.Subscriber, "tail", p+".order.>"),
		"mid":   s.subscribe(t, in.Subscriber, "mid", p+".*.created"),
	}
	types := []string{"order.created", "order.paid", "order.line.added", "shipment.created", "orders.created"}
	want := map[string][]string{
		"exact": {"order.created"},
		"star":  {"order.created", "order.paid"},
		"tail":  {"order.created", "order.paid", "order.line.added"},
		"mid":   {"order.created", "shipment.created", "orders.created"},
	}
	for i, typ := range types {
		s.publish(t, in.Publisher, msg(p+"."+typ, "", i))
	}
	// A marker that every pattern matches, published last: once a group
	// sees it, it has seen everything it will (adapters deliver in order
	// when nothing fails).
	marker := msg(p+".order.created", "marker", 99)
	s.publish(t, in.Publisher, marker)
	for name, sn := range subs {
		var got []string
		for {
			d := s.next(t, sn)
			_ = d.Ack(s.ctx(t))
			if d.Message().ID == marker.ID {
				break
			}
			got = append(got, d.Message().Type[len(p)+1:])
		}
		slices.Sort(got)
		w := slices.Sorted(slices.Values(want[name]))
		if !slices.Equal(got, w) {
			t.Errorf("group %s got %v, want %v", name, got, w)
		}
	}
}

func (s *suite) fanOut(t *testing.T) {
	in := s.connect(t)
	p := prefix()
	a := s.subscribe(t, in.Subscriber, "inventory", p+".order.>")
	b := s.subscribe(t, in.Subscriber, "shipping", p+".order.>")
	var msgs []*eventbus.Message
	for i := range 10 {
		msgs = append(msgs, msg(p+".order.created", "", i))
	}
	s.publish(t, in.Publisher, msgs...)
	for name, sn := range map[string]eventbus.Subscription{"inventory": a, "shipping": b} {
		seen := map[string]bool{}
		for len(seen) < len(msgs) {
			d := s.next(t, sn)
			seen[d.Message().ID] = true
			_ = d.Ack(s.ctx(t))
		}
		for _, m := range msgs {
			if !seen[m.ID] {
				t.Errorf("group %s missed %s", name, m.ID)
			}
		}
	}
}

func (s *suite) competing(t *testing.T) {
	one, two := s.connect(t), s.connect(t)
	p := prefix()
	pattern := p + ".order.created"
	a := s.subscribe(t, one.Subscriber, "workers", pattern, eventbus.WithPrefetch(1))
	b := s.subscribe(t, two.Subscriber, "workers", pattern, eventbus.WithPrefetch(1))
	var msgs []*eventbus.Message
	for i := range 20 {
		msgs = append(msgs, msg(pattern, "", i))
	}
	s.publish(t, one.Publisher, msgs...)

	// Instance one holds a message without settling it; instance two must
	// get work meanwhile: the group shares, it does not pin to one consumer.
	held := s.next(t, a)
	first := map[string]int{held.Message().ID: 1}
	got := s.next(t, b)
	if got.Attempt() == 1 { // not the held message redelivered after a slow ack wait
		first[got.Message().ID]++
	}
	_ = got.Ack(s.ctx(t))
	_ = held.Ack(s.ctx(t))

	results := make(chan eventbus.Delivery)
	for _, sn := range []eventbus.Subscription{a, b} {
		go func() {
			for {
				d, err := sn.Next(s.ctx(t))
				if err != nil {
					return
				}
				_ = d.Ack(s.ctx(t))
				results <- d
			}
		}()
	}
	deadline := time.After(s.cfg.Timeout)
	for len(first) < len(msgs) {
		select {
		case d := <-results:
			if d.Attempt() == 1 {
				first[d.Message().ID]++
			}
		case <-deadline:
			t.Fatalf("the group handled %d of %d messages", len(first), len(msgs))
		}
	}
	_ = a.Close()
	_ = b.Close()
	for id, n := range first {
		if n != 1 {
			t.Errorf("message %s delivered for the first time %d times, want once per group", id, n)
		}
	}
}

func (s *suite) redelivery(t *testing.T) {
	in := s.connect(t)
	p := prefix()
	sn := s.subscribe(t, in.Subscriber, "retrying", p+".order.created")
	m := msg(p+".order.created", "order-1", 1)
	s.publish(t, in.Publisher, m)
	for attempt, delay := range []time.Duration{0, 10 * time.Millisecond} {
		d := s.next(t, sn)
		if d.Message().ID != m.ID || d.Attempt() != attempt+1 {
			t.Fatalf("delivery %s attempt %d, want %s attempt %d", d.Message().ID, d.Attempt(), m.ID, attempt+1)
		}
		if err := d.Nack(s.ctx(t), delay); err != nil {
			t.Fatalf("Nack: %v", err)
		}
	}
	d := s.next(t, sn)
	if d.Message().ID != m.ID || d.Attempt() != 3 {
		t.Fatalf("delivery %s attempt %d, want %s attempt 3", d.Message().ID, d.Attempt(), m.ID)
	}
	if string(d.Message().Data) != string(m.Data) {
		t.Fatalf("redelivered data %q, want %q", d.Message().Data, m.Data)
	}
	if err := d.Ack(s.ctx(t)); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

func (s *suite) termination(t *testing.T) {
	in := s.connect(t)
	p := prefix()
	sn := s.subscribe(t, in.Subscriber, "terminating", p+".order.created")
	poison, next := msg(p+".order.created", "", 1), msg(p+".order.created", "", 2)
	s.publish(t, in.Publisher, poison)
	d := s.next(t, sn)
	if err := d.Term(s.ctx(t)); err != nil {
		t.Fatalf("Term: %v", err)
	}
	if err := d.Nack(s.ctx(t), 0); err == nil {
		t.Fatal("Nack after Term succeeded, want an error")
	}
	s.publish(t, in.Publisher, next)
	if d := s.next(t, sn); d.Message().ID != next.ID {
		t.Fatalf("got %s (attempt %d) after Term, want the next message", d.Message().ID, d.Attempt())
	}
}

func (s *suite) validation(t *testing.T) {
	in := s.connect(t)
	ctx := s.ctx(t)
	p := prefix()
	for name, m := range map[string]*eventbus.Message{
		"no ID":     {Type: p + ".order.created"},
		"no type":   {ID: eventbus.NewID()},
		"bad type":  {ID: eventbus.NewID(), Type: p + ".order.*"},
		"nil":       nil,
		"empty tok": {ID: eventbus.NewID(), Type: p + "..created"},
	} {
		if err := in.Publisher.Publish(ctx, m); !errors.Is(err, eventbus.ErrInvalidMessage) {
			t.Errorf("Publish(%s) = %v, want ErrInvalidMessage", name, err)
		}
	}
	for _, pattern := range []string{"", "order.>.x", p + ".", "a b"} {
		if _, err := in.Subscriber.Subscribe(ctx, "g", pattern); !errors.Is(err, eventbus.ErrInvalidPattern) {
			t.Errorf("Subscribe(%q) = %v, want ErrInvalidPattern", pattern, err)
		}
	}
	if _, err := in.Subscriber.Subscribe(ctx, "bad group!", p+".x"); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Errorf("Subscribe(bad group) = %v, want ErrInvalidOption", err)
	}
	if _, err := in.Subscriber.Subscribe(ctx, "g", p+".x", eventbus.WithPrefetch(0)); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Errorf("Subscribe(prefetch 0) = %v, want ErrInvalidOption", err)
	}
	sn := s.subscribe(t, in.Subscriber, "closing", p+".x")
	if err := sn.Close(); err != nil {
		t.Fatalf("Subscription.Close: %v", err)
	}
	if err := sn.Close(); err != nil {
		t.Fatalf("second Subscription.Close: %v", err)
	}
	if _, err := sn.Next(ctx); !errors.Is(err, eventbus.ErrClosed) {
		t.Errorf("Next after Close = %v, want ErrClosed", err)
	}
	if err := in.Publisher.Close(ctx); err != nil {
		t.Fatalf("Publisher.Close: %v", err)
	}
	if err := in.Publisher.Publish(ctx, msg(p+".x", "", 1)); !errors.Is(err, eventbus.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

// closing checks Close(ctx) on the subscriber: concurrent calls both
// return once it closed, its subscriptions end, and a Close whose context
// has already ended gives up waiting but still closes.
func (s *suite) closing(t *testing.T) {
	ctx := s.ctx(t)
	p := prefix()
	in := s.connect(t)
	sn := s.subscribe(t, in.Subscriber, "closing", p+".x")
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { errs <- in.Subscriber.Close(ctx) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Subscriber.Close: %v", err)
		}
	}
	if _, err := sn.Next(ctx); !errors.Is(err, eventbus.ErrClosed) {
		t.Errorf("Next on a subscription of a closed subscriber = %v, want ErrClosed", err)
	}
	if _, err := in.Subscriber.Subscribe(ctx, "closing", p+".x"); !errors.Is(err, eventbus.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}

	other := s.connect(t)
	s.subscribe(t, other.Subscriber, "closing", p+".x")
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if err := other.Subscriber.Close(ended); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Subscriber.Close(ended context) = %v, want nil or context.Canceled", err)
	}
	if err := other.Publisher.Close(ended); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Publisher.Close(ended context) = %v, want nil or context.Canceled", err)
	}
	if _, err := other.Subscriber.Subscribe(ctx, "closing", p+".x"); !errors.Is(err, eventbus.ErrClosed) {
		t.Errorf("Subscribe after a Close that gave up waiting = %v, want ErrClosed", err)
	}
	if err := other.Publisher.Publish(ctx, msg(p+".x", "", 1)); !errors.Is(err, eventbus.ErrClosed) {
		t.Errorf("Publish after a Close that gave up waiting = %v, want ErrClosed", err)
	}
}
