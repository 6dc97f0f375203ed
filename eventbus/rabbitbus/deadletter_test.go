package rabbitbus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/rabbitbus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// TestDrainDeadLetters: a terminated delivery and a message no consumer
// could decode land in RabbitMQ's dead-letter queue; DrainDeadLetters hands
// them to a handler as eventbus dead letters (the form the dlq store parks)
// and removes them only once it succeeded, under IDs that do not change
// when a message is drained again.
func TestDrainDeadLetters(t *testing.T) {
	br := newBroker(t)
	b := br.dial(t, rabbitbus.WithPrefetch(1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, err := br.subscriber(b).Subscribe(ctx, "terminator", "order.*")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msg, err := eventbus.NewMessage("order.created", map[string]int{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	msg.Subject = "order-1"
	msg.SetMetadata("k", "v")
	if err := b.Publish(ctx, msg); err != nil {
		t.Fatal(err)
	}
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Nack(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if d, err = sub.Next(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Term(ctx); err != nil {
		t.Fatal(err)
	}
	// A plain client's message without an ID: the subscription cannot
	// decode it and rejects it into the dead-letter queue.
	ch := br.plainChannel(t)
	if err := ch.PublishWithContext(ctx, br.exchange, "order.raw", false, false, amqp.Publishing{Body: []byte("garbage")}); err != nil {
		t.Fatal(err)
	}
	deadQueue := br.exchange + ".dead"
	for {
		q, err := ch.QueueDeclarePassive(deadQueue, true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("dead-letter queue holds %d messages, want 2", q.Messages)
		case <-time.After(20 * time.Millisecond):
		}
	}

	if _, err := b.DrainDeadLetters(ctx, nil); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Errorf("DrainDeadLetters(nil) = %v, want ErrInvalidOption", err)
	}
	// A handler that fails leaves everything in the queue.
	var refused string
	n, err := b.DrainDeadLetters(ctx, func(_ context.Context, m *eventbus.Message) error {
		refused = m.ID
		return errors.New("store down")
	})
	if n != 0 || err == nil {
		t.Fatalf("drain into a failing handler = %d, %v; want 0 and its error", n, err)
	}
	var parked []*eventbus.Message
	n, err = b.DrainDeadLetters(ctx, func(_ context.Context, m *eventbus.Message) error {
		parked = append(parked, m)
		return nil
	})
	if n != 2 || err != nil || len(parked) != 2 {
		t.Fatalf("drain = %d, %v (%d parked); want 2", n, err, len(parked))
	}
	if n, err := b.DrainDeadLetters(ctx, func(context.Context, *eventbus.Message) error { return nil }); n != 0 || err != nil {
		t.Fatalf("second drain = %d, %v; want an empty queue", n, err)
	}

	got := parked[0]
	md := got.Metadata
	if got.ID != refused || !strings.HasPrefix(got.ID, msg.ID+".deadletter.") || got.Type != "deadletter.order.created" {
		t.Errorf("dead letter %s %s (first drained as %s), want a stable ID of the original and its dead-letter type", got.ID, got.Type, refused)
	}
	for k, want := range map[string]string{
		eventbus.MetaDeadLetterReason:       "rabbitmq: rejected",
		eventbus.MetaDeadLetterOriginalType: "order.created",
		eventbus.MetaDeadLetterOriginalID:   msg.ID,
		eventbus.MetaDeadLetterAttempts:     "2",
		eventbus.MetaDeadLetterGroup:        "terminator",
		eventbus.MetaDeadLetterHandler:      "order.*",
		"k":                                 "v",
	} {
		if md[k] != want {
			t.Errorf("metadata %s = %q, want %q", k, md[k], want)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, md[eventbus.MetaDeadLetterTime]); err != nil {
		t.Errorf("dead-letter time: %v", err)
	}
	if got.Subject != msg.Subject || string(got.Data) != string(msg.Data) {
		t.Errorf("dead letter %+v lost the original's subject or data", got)
	}

	raw := parked[1]
	if raw.Type != "deadletter.order.raw" || raw.Metadata[eventbus.MetaDeadLetterOriginalType] != "order.raw" ||
		!strings.HasPrefix(raw.Metadata[eventbus.MetaDeadLetterOriginalID], "rabbitbus-") || string(raw.Data) != "garbage" ||
		!strings.Contains(raw.Metadata[eventbus.MetaDeadLetterReason], "undecodable") {
		t.Errorf("undecodable message parked as %+v", raw)
	}
}
