package rabbitbus

import (
	"context"
	"fmt"
	"math/bits"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// delivery is one AMQP delivery of a group queue.
type delivery struct {
	s       *subscription
	d       amqp.Delivery
	msg     *eventbus.Message
	attempt int
	settled atomic.Bool // the broker would close the channel on a second ack of one tag
}

func (d *delivery) Message() *eventbus.Message { return d.msg }

func (d *delivery) Attempt() int { return d.attempt }

func (d *delivery) Ack(context.Context) error {
	if !d.settled.CompareAndSwap(false, true) {
		return eventbus.ErrStaleDelivery
	}
	return wrap("ack", d.d.Ack(false))
}

// Nack republishes the message with the next attempt number, into the
// group's queue at once or through a retry queue after delay, waits for the
// broker to confirm the copy (publisher confirms), and only then
// acknowledges this delivery. If the republish fails, the delivery is
// returned to the queue as is (basic.nack with requeue), which RabbitMQ
// marks redelivered.
//
// The confirmed copy and the ack are two steps that AMQP cannot make
// atomic (a transaction excludes confirm mode and does not make a publish
// and an ack on two queues one durable step): if the process dies or the
// connection drops between them, the broker redelivers the original too,
// and the message is delivered twice. That is the at-least-once promise;
// consumers deduplicate on the message ID (package eventbus/inbox,
// outbox.Inbox). The copy is never lost: the ack waits for its confirm.
func (d *delivery) Nack(ctx context.Context, delay time.Duration) error {
	if !d.settled.CompareAndSwap(false, true) {
		return eventbus.ErrStaleDelivery
	}
	if ch, ok := d.d.Acknowledger.(*amqp.Channel); ok && ch.IsClosed() {
		// The broker already returned the delivery to the queue when its
		// channel closed; a republished copy would be a duplicate.
		return wrap("nack", amqp.ErrClosed)
	}
	b := d.s.b
	key := d.s.queue
	if delay > 0 {
		q, err := d.s.retryQueue(ctx, delay)
		if err != nil {
			_ = d.d.Nack(false, true)
			return wrap("nack", err)
		}
		key = q
	}
	p, err := b.encode(d.msg, d.attempt+1)
	if err != nil {
		_ = d.d.Nack(false, true)
		return wrap("nack", err)
	}
	if err := b.publish(ctx, "", []string{key}, []amqp.Publishing{p}); err != nil {
		_ = d.d.Nack(false, true)
		return wrap("nack", err)
	}
	return wrap("nack", d.d.Ack(false))
}

// Term rejects the delivery without requeueing: the broker dead-letters it
// to the dead-letter exchange, with the reason in its x-death header.
func (d *delivery) Term(context.Context) error {
	if !d.settled.CompareAndSwap(false, true) {
		return eventbus.ErrStaleDelivery
	}
	return wrap("term", d.d.Reject(false))
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("rabbitbus: %s: %w", op, err)
}

// RetryDelay returns the delay a retry queue actually holds a message for
// when Nack asks for delay: delay rounded up to a step of at most a quarter
// (1, 1.25, 1.5, 1.75, 2 times a power of two milliseconds), so that the
// jittered delays of a backoff policy share a few retry queues.
func RetryDelay(delay time.Duration) time.Duration {
	ms := int64((delay + time.Millisecond - 1) / time.Millisecond)
	if ms <= 4 {
		return time.Duration(max(ms, 1)) * time.Millisecond
	}
	k := 63 - bits.LeadingZeros64(uint64(ms)) // 2^k <= ms < 2^(k+1)
	step := int64(1) << (k - 2)               // a quarter of 2^k
	return time.Duration((ms+step-1)/step*step) * time.Millisecond
}

// retryQueue declares (or refreshes) the retry queue of delay: its
// messages expire after the delay into the group's queue. It expires a
// minute after its last use.
func (s *subscription) retryQueue(ctx context.Context, delay time.Duration) (string, error) {
	ms := RetryDelay(delay).Milliseconds()
	name := s.queue + ".retry." + strconv.FormatInt(ms, 10)
	ch, _, err := s.b.channel(ctx)
	if err != nil {
		return "", err
	}
	defer ch.Close()
	_, err = ch.QueueDeclare(name, true, false, false, false, amqp.Table{
		"x-message-ttl":             ms,
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": s.queue,
		"x-expires":                 ms + 60_000,
	})
	if err != nil {
		return "", fmt.Errorf("declare retry queue %s: %w", name, err)
	}
	b := s.b
	b.mu.Lock()
	if b.retryQueues == nil {
		b.retryQueues = make(map[string]map[string]struct{})
	}
	if b.retryQueues[s.queue] == nil {
		b.retryQueues[s.queue] = make(map[string]struct{})
	}
	b.retryQueues[s.queue][name] = struct{}{}
	b.mu.Unlock()
	return name, nil
}
