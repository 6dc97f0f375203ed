package rabbitbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/rabbitbus"
)

// TestTermDeadLetters checks that a terminated delivery lands in the
// dead-letter queue with RabbitMQ's x-death reason and its envelope intact.
func TestTermDeadLetters(t *testing.T) {
	br := newBroker(t)
	b := br.dial(t, rabbitbus.WithPrefetch(1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, err := br.subscriber(b).Subscribe(ctx, "terminator", "order.*")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := eventbus.NewMessage("order.created", map[string]int{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	msg.Subject = "order-1"
	if err := b.Publish(ctx, msg); err != nil {
		t.Fatal(err)
	}
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Term(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(ctx); err == nil {
		t.Fatal("Ack after Term succeeded, want ErrStaleDelivery")
	}
	dead, err := b.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 {
		t.Fatalf("DeadLetters = %d messages, want 1", len(dead))
	}
	got := dead[0]
	if got.Message.ID != msg.ID || got.Message.Type != msg.Type || got.Message.Subject != msg.Subject || string(got.Message.Data) != string(msg.Data) {
		t.Fatalf("dead letter %+v, want %+v", got.Message, msg)
	}
	if got.Reason != "rejected" || got.Queue != rabbitbus.QueueName(br.exchange, "terminator", "order.*") {
		t.Fatalf("dead letter reason %q queue %q, want rejected from the group's queue", got.Reason, got.Queue)
	}
	// Listing returned it to the queue: it is still there.
	again, err := b.DeadLetters(ctx, 10)
	if err != nil || len(again) != 1 {
		t.Fatalf("second DeadLetters = %d, %v; want the same message", len(again), err)
	}

	// Replay sends it back to the group's queue, as a first attempt.
	n, err := b.ReplayDeadLetters(ctx, msg.ID, "not-there")
	if err != nil || n != 1 {
		t.Fatalf("ReplayDeadLetters = %d, %v; want 1", n, err)
	}
	d, err = sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Message().ID != msg.ID || d.Attempt() != 1 || string(d.Message().Data) != string(msg.Data) {
		t.Fatalf("replayed delivery %+v attempt %d, want %s attempt 1", d.Message(), d.Attempt(), msg.ID)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if left, err := b.DeadLetters(ctx, 10); err != nil || len(left) != 0 {
		t.Fatalf("DeadLetters after the replay = %d, %v; want none", len(left), err)
	}
}
