package rabbitbus

import (
	"context"
	"fmt"

	"github.com/go-microkit/microkit/eventbus"
)

// DeleteQueue tears down what Subscribe declared for consumer group group
// and pattern: the group's durable queue, with its binding and the
// messages it holds, and the retry queues this bus declared for it (those
// another process declared expire on their own a minute after their last
// use). It closes this bus's subscriptions of the queue first; stop the
// group's consumers in other processes before, or they declare the queue
// again. It returns how many messages were deleted with the queue. A queue
// that does not exist is not an error.
func (b *Bus) DeleteQueue(ctx context.Context, group, pattern string) (int, error) {
	if err := eventbus.ValidateGroup(group); err != nil {
		return 0, fmt.Errorf("rabbitbus: delete queue: %w", err)
	}
	if err := eventbus.ValidatePattern(pattern); err != nil {
		return 0, fmt.Errorf("rabbitbus: delete queue: %w", err)
	}
	queue := QueueName(b.cfg.exchange, group, pattern)
	b.mu.Lock()
	var subs []*subscription
	for s := range b.subs {
		if s.queue == queue {
			subs = append(subs, s)
			delete(b.subs, s)
		}
	}
	retries := b.retryQueues[queue]
	b.mu.Unlock()
	for _, s := range subs {
		s.close()
	}
	ch, _, err := b.channel(ctx)
	if err != nil {
		return 0, fmt.Errorf("rabbitbus: delete queue %s: %w", queue, err)
	}
	defer ch.Close()
	n, err := ch.QueueDelete(queue, false, false, false)
	if err != nil {
		return 0, fmt.Errorf("rabbitbus: delete queue %s: %w", queue, err)
	}
	for retry := range retries {
		m, err := ch.QueueDelete(retry, false, false, false)
		if err != nil {
			return n, fmt.Errorf("rabbitbus: delete retry queue %s: %w", retry, err)
		}
		n += m
	}
	b.mu.Lock()
	delete(b.retryQueues, queue)
	b.mu.Unlock()
	return n, nil
}

// DeleteExchanges tears down what Connect declared: the exchange, the
// dead-letter exchange and the dead-letter queue, with the dead letters it
// holds (move them to the dead-letter store first: DrainDeadLetters).
// Group queues lose their binding to the exchange but stay: delete them
// first with DeleteQueue. Close the bus next, since a reconnect would
// declare the exchanges again. What does not exist is not an error.
func (b *Bus) DeleteExchanges(ctx context.Context) error {
	ch, _, err := b.channel(ctx)
	if err != nil {
		return fmt.Errorf("rabbitbus: delete exchanges: %w", err)
	}
	defer ch.Close()
	if _, err := ch.QueueDelete(b.cfg.deadQueue, false, false, false); err != nil {
		return fmt.Errorf("rabbitbus: delete queue %s: %w", b.cfg.deadQueue, err)
	}
	for _, x := range []string{b.cfg.deadExchange, b.cfg.exchange} {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			return fmt.Errorf("rabbitbus: delete exchange %s: %w", x, err)
		}
	}
	return nil
}
