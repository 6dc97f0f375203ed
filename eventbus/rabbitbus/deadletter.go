package rabbitbus

import (
	"context"
	"fmt"

	"github.com/go-microkit/microkit/eventbus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// DeadLetter is a message RabbitMQ dead-lettered into the bus's dead-letter
// queue (a delivery that was terminated, or a message it could not decode).
type DeadLetter struct {
	// Message is the dead-lettered message as it was delivered.
	Message *eventbus.Message
	// Reason is RabbitMQ's x-death reason: "rejected", "expired",
	// "maxlen" or "delivery_limit".
	Reason string
	// Queue is the group queue it was dead-lettered from.
	Queue string
}

// DeadLetters returns up to max messages of the dead-letter queue without
// removing them: it reads them with basic.get and returns them to the queue
// when done. Messages it cannot decode are skipped.
func (b *Bus) DeadLetters(ctx context.Context, max int) ([]DeadLetter, error) {
	ch, _, err := b.channel(ctx)
	if err != nil {
		return nil, fmt.Errorf("rabbitbus: dead letters: %w", err)
	}
	defer ch.Close() // returns every unacknowledged message to the queue
	var out []DeadLetter
	for len(out) < max {
		d, ok, err := ch.Get(b.cfg.deadQueue, false)
		if err != nil {
			return nil, fmt.Errorf("rabbitbus: dead letters: %w", err)
		}
		if !ok {
			break
		}
		d.Redelivered = false // browsing does not count as an attempt
		msg, _, err := b.decode(&d)
		if err != nil {
			continue
		}
		dl := DeadLetter{Message: msg}
		if deaths, ok := d.Headers["x-death"].([]any); ok && len(deaths) > 0 {
			if death, ok := deaths[0].(amqp.Table); ok {
				dl.Reason, _ = death["reason"].(string)
				dl.Queue, _ = death["queue"].(string)
			}
		}
		out = append(out, dl)
	}
	return out, nil
}

// ReplayDeadLetters republishes the dead-lettered messages whose IDs are
// given to the exchange under their original type (attempt count reset),
// waits for the broker's confirms, and removes them from the dead-letter
// queue. Other messages stay in the queue. It returns how many it
// replayed; IDs it did not find are not an error.
func (b *Bus) ReplayDeadLetters(ctx context.Context, ids ...string) (int, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	ch, _, err := b.channel(ctx)
	if err != nil {
		return 0, fmt.Errorf("rabbitbus: replay dead letters: %w", err)
	}
	defer ch.Close() // returns every message not replayed to the queue
	replayed := 0
	for len(want) > 0 {
		// Unacknowledged gets are not handed out again on this channel, so
		// the loop visits each message of the queue once.
		d, ok, err := ch.Get(b.cfg.deadQueue, false)
		if err != nil {
			return replayed, fmt.Errorf("rabbitbus: replay dead letters: %w", err)
		}
		if !ok {
			break
		}
		if !want[d.MessageId] {
			continue
		}
		d.Redelivered = false
		msg, _, err := b.decode(&d)
		if err != nil {
			return replayed, fmt.Errorf("rabbitbus: replay dead letter %s: %w", d.MessageId, err)
		}
		if err := b.Publish(ctx, msg); err != nil {
			return replayed, fmt.Errorf("rabbitbus: replay dead letter %s: %w", msg.ID, err)
		}
		if err := d.Ack(false); err != nil {
			return replayed, fmt.Errorf("rabbitbus: replay dead letter %s: republished, but removing it failed: %w", msg.ID, err)
		}
		delete(want, d.MessageId)
		replayed++
	}
	return replayed, nil
}
