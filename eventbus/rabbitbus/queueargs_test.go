package rabbitbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/rabbitbus"
)

// TestQuorumQueueAndCustomDeadLetter: group queues declared as quorum
// queues through WithQueueArguments carry messages, nacks and terms like
// classic ones, into a dead-letter exchange and queue named by
// WithDeadLetter.
func TestQuorumQueueAndCustomDeadLetter(t *testing.T) {
	br := newBroker(t)
	dlx, dead := br.exchange+".parking", br.exchange+".parked"
	br.mu.Lock()
	br.queues[dead] = true
	br.mu.Unlock()
	t.Cleanup(func() { br.deleteExchange(t, dlx) })
	b := br.dial(t, rabbitbus.WithQueueArguments(map[string]any{"x-queue-type": "quorum"}), rabbitbus.WithDeadLetter(dlx, dead))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := br.subscriber(b).Subscribe(ctx, "quorum", "payment.>")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := eventbus.NewMessage("payment.captured", map[string]int{"cents": 1250})
	if err := b.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		d, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Message().ID != m.ID || d.Attempt() != attempt {
			t.Fatalf("delivery %s attempt %d, want %s attempt %d", d.Message().ID, d.Attempt(), m.ID, attempt)
		}
		if attempt == 1 {
			err = d.Nack(ctx, 0)
		} else {
			err = d.Term(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// The dead letter is in the queue named by WithDeadLetter, attempts
	// counted (quorum queues count deliveries themselves).
	var parked []*eventbus.Message
	for len(parked) == 0 && ctx.Err() == nil {
		if _, err := b.DrainDeadLetters(ctx, func(_ context.Context, dl *eventbus.Message) error {
			parked = append(parked, dl)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(parked) != 1 || parked[0].Metadata[eventbus.MetaDeadLetterOriginalID] != m.ID ||
		parked[0].Metadata[eventbus.MetaDeadLetterReason] != "rabbitmq: rejected" || parked[0].Metadata[eventbus.MetaDeadLetterAttempts] != "2" {
		t.Fatalf("dead letters %+v, want %s rejected after 2 attempts", parked, m.ID)
	}
}

// TestQuorumQueueCountsCrashes: on a quorum queue each consumer that dies
// with the message unsettled counts as an attempt (x-delivery-count), so a
// message that kills every consumer reaches its last attempt and is
// dead-lettered instead of looping for ever.
func TestQuorumQueueCountsCrashes(t *testing.T) {
	br := newBroker(t)
	b := br.dial(t, rabbitbus.WithQueueArguments(map[string]any{"x-queue-type": "quorum"}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, _ := eventbus.NewMessage("payment.captured", map[string]int{"cents": 1250})
	for attempt := 1; attempt <= 4; attempt++ {
		sub, err := br.subscriber(b).Subscribe(ctx, "crashing", "payment.>")
		if err != nil {
			t.Fatal(err)
		}
		if attempt == 1 {
			if err := b.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		d, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Message().ID != m.ID || d.Attempt() != attempt {
			t.Fatalf("delivery %s attempt %d, want %s attempt %d", d.Message().ID, d.Attempt(), m.ID, attempt)
		}
		if attempt == 4 {
			_ = d.Ack(ctx)
		}
		_ = sub.Close() // the consumer dies with the message unsettled
	}
}
