package eventbustest

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
)

// PartialFailureBatch is the batch of an adapter's test that a broker
// refuses in part: First, a big message of Subject "order-1" that the test
// makes the broker refuse at first (a size limit a filler fills), then
// Second, a small message of the same Subject, and Other, a small message
// of Subject "order-2", both accepted at once. Publish(Batch()...) must
// still store First before Second.
type PartialFailureBatch struct {
	First, Second, Other *eventbus.Message
}

// NewPartialFailureBatch returns the batch, First with a JSON string body
// of bigBytes bytes.
func NewPartialFailureBatch(bigBytes int) PartialFailureBatch {
	event := func(typ, subject string, size int) *eventbus.Message {
		return &eventbus.Message{ID: eventbus.NewID(), Type: typ, Subject: subject,
			DataContentType: eventbus.JSONContentType, Data: fmt.Appendf(nil, "%q", bytes.Repeat([]byte("x"), size))}
	}
	return PartialFailureBatch{
		First:  event("order.created", "order-1", bigBytes),
		Second: event("order.paid", "order-1", 10),
		Other:  event("order.created", "order-2", 10),
	}
}

// Batch returns the messages in publishing order.
func (p PartialFailureBatch) Batch() []*eventbus.Message {
	return []*eventbus.Message{p.First, p.Second, p.Other}
}

// CheckOrder consumes the batch's three messages from sub, acking each, and
// fails the test unless "order-1" arrived as First then Second.
func (p PartialFailureBatch) CheckOrder(ctx context.Context, t testing.TB, sub eventbus.Subscription) {
	t.Helper()
	var order []string
	for range 3 {
		d, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Message().Subject == "order-1" {
			order = append(order, d.Message().ID)
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(order) != 2 || order[0] != p.First.ID || order[1] != p.Second.ID {
		t.Fatalf("order-1 delivered as %v, want [%s %s] (first, then second)", order, p.First.ID, p.Second.ID)
	}
}
