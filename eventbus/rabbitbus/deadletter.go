package rabbitbus

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// undecodableType is the original type of a dead letter whose message
// carried no usable type (neither its type property nor its routing key).
const undecodableType = "rabbitbus.undecodable"

// DrainDeadLetters moves the messages of the bus's dead-letter queue into
// park, as eventbus dead letters, so that they are listed and replayed
// with every other parked message (package eventbus/dlq; pass its
// Store.Handler, as command microkit-dlq's collect and drain do). The queue
// holds what RabbitMQ dead-lettered from the group queues: deliveries that
// Delivery.Term rejected (a router's permanent failure without the
// eventbus.DeadLetter middleware), messages no consumer could decode, and
// messages a queue's own limits dropped (x-message-ttl, x-max-length,
// x-delivery-limit).
//
// Each message is handed to park in the form eventbus.DeadLetter gives a
// parked one: type eventbus.DeadLetterPrefix plus its type, the original
// type and ID, the reason ("rabbitmq: " and RabbitMQ's x-death reason),
// the attempts, the group and pattern (as the handler) of the queue it died
// in, and the time. Its ID is derived from the death, so a message drained
// twice (the removal was lost) is parked once. A message that did not
// decode is parked with what it has: its body as the data, its type
// property or routing key as its type (else "rabbitbus.undecodable") and
// the decoding error in the reason.
//
// A message leaves the queue once park returned nil. DrainDeadLetters makes
// one pass over the queue and returns how many messages it moved; it stops
// at park's first error, which it returns, leaving that message and the
// rest in the queue.
func (b *Bus) DrainDeadLetters(ctx context.Context, park eventbus.Handler) (int, error) {
	if park == nil {
		return 0, fmt.Errorf("rabbitbus: drain dead letters: %w: nil handler", eventbus.ErrInvalidOption)
	}
	ch, _, err := b.channel(ctx)
	if err != nil {
		return 0, fmt.Errorf("rabbitbus: drain dead letters: %w", err)
	}
	defer ch.Close() // returns a message park refused to the queue
	moved := 0
	for ctx.Err() == nil {
		// Unacknowledged gets are not handed out again on this channel, so
		// one pass visits each message once.
		d, ok, err := ch.Get(b.cfg.deadQueue, false)
		if err != nil {
			return moved, fmt.Errorf("rabbitbus: drain dead letters: %w", err)
		}
		if !ok {
			return moved, nil
		}
		dl := b.deadLetterOf(&d)
		if err := park(ctx, dl); err != nil {
			return moved, fmt.Errorf("rabbitbus: drain dead letter %s: %w", dl.ID, err)
		}
		if err := d.Ack(false); err != nil {
			return moved, fmt.Errorf("rabbitbus: drain dead letter %s: parked, but removing it failed: %w", dl.ID, err)
		}
		moved++
	}
	return moved, fmt.Errorf("rabbitbus: drain dead letters: %w", ctx.Err())
}

// deadLetterOf returns the eventbus dead letter of a message of the
// dead-letter queue.
func (b *Bus) deadLetterOf(d *amqp.Delivery) *eventbus.Message {
	var reason, queue string
	var died time.Time
	if deaths, ok := d.Headers["x-death"].([]any); ok && len(deaths) > 0 {
		if death, ok := deaths[0].(amqp.Table); ok {
			reason, _ = death["reason"].(string)
			queue, _ = death["queue"].(string)
			died, _ = death["time"].(time.Time)
		}
	}
	if died.IsZero() {
		died = time.Now()
	}
	reason = "rabbitmq: " + cmp.Or(reason, "dead-lettered")
	// Dead-lettering is not a redelivery: count the attempts the message
	// had, not one more.
	clean := *d
	clean.Redelivered = false
	msg, attempts, err := b.decode(&clean)
	if err != nil {
		msg, attempts = undecodable(d), 1
		reason += " (undecodable: " + err.Error() + ")"
	}
	// The death identifies the dead letter: the same message dead-lettered
	// again (replayed, failed again) is another one; the same death drained
	// twice is not.
	h := sha256.Sum256([]byte(queue + "\x00" + reason + "\x00" + died.UTC().Format(time.RFC3339Nano) + "\x00" + msg.ID))
	dl := msg.Clone()
	dl.ID = msg.ID + ".deadletter." + hex.EncodeToString(h[:8])
	dl.Type = eventbus.DeadLetterPrefix + msg.Type
	dl.SetMetadata(eventbus.MetaDeadLetterReason, reason)
	dl.SetMetadata(eventbus.MetaDeadLetterOriginalType, msg.Type)
	dl.SetMetadata(eventbus.MetaDeadLetterOriginalID, msg.ID)
	dl.SetMetadata(eventbus.MetaDeadLetterAttempts, strconv.Itoa(attempts))
	dl.SetMetadata(eventbus.MetaDeadLetterTime, died.UTC().Format(time.RFC3339Nano))
	group, pattern := b.groupOf(queue)
	dl.SetMetadata(eventbus.MetaDeadLetterGroup, group)
	dl.SetMetadata(eventbus.MetaDeadLetterHandler, pattern)
	return dl
}

// undecodable returns what can be read of a message decode refused.
func undecodable(d *amqp.Delivery) *eventbus.Message {
	m := &eventbus.Message{ID: d.MessageId, Type: undecodableType, DataContentType: d.ContentType, Data: d.Body}
	for _, t := range []string{d.Type, d.RoutingKey} {
		if t != "" && eventbus.ValidateType(t) == nil {
			m.Type = t
			break
		}
	}
	if m.ID == "" {
		h := sha256.Sum256(append([]byte(d.RoutingKey+"\x00"), d.Body...))
		m.ID = "rabbitbus-" + hex.EncodeToString(h[:8])
	}
	return m
}

// groupOf splits a group queue's name (see QueueName) into its group and
// pattern; a pattern QueueName hashed, or a queue of another exchange,
// gives what is left of the name.
func (b *Bus) groupOf(queue string) (group, pattern string) {
	rest, ok := strings.CutPrefix(queue, b.cfg.exchange+".")
	if !ok {
		return "", queue
	}
	group, pattern, _ = strings.Cut(rest, ".")
	return group, pattern
}
