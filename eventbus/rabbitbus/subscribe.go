package rabbitbus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/go-microkit/microkit/eventbus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// QueueName is the durable queue of consumer group group for pattern on
// exchange: "<exchange>.<group>.<pattern>", or with a hash of the pattern
// in its place when that would pass AMQP's 255-byte limit.
func QueueName(exchange, group, pattern string) string {
	name := exchange + "." + group + "." + pattern
	if len(name) <= 200 {
		return name
	}
	sum := sha256.Sum256([]byte(pattern))
	return exchange + "." + group + "." + hex.EncodeToString(sum[:12])
}

// Subscribe declares the durable queue of (group, pattern), binds it to the
// exchange and starts consuming it. The queue outlives the subscription:
// messages published while no instance of the group runs wait in it.
func (b *Bus) Subscribe(ctx context.Context, group, pattern string, opts ...eventbus.SubscribeOption) (eventbus.Subscription, error) {
	if err := eventbus.ValidateGroup(group); err != nil {
		return nil, fmt.Errorf("rabbitbus: subscribe: %w", err)
	}
	if err := eventbus.ValidatePattern(pattern); err != nil {
		return nil, fmt.Errorf("rabbitbus: subscribe: %w", err)
	}
	settings, err := eventbus.NewSubscribeSettings(opts...)
	if err != nil {
		return nil, fmt.Errorf("rabbitbus: subscribe: %w", err)
	}
	prefetch := settings.Prefetch
	if prefetch == 0 {
		prefetch = b.cfg.prefetch
	}
	if prefetch > MaxPrefetch {
		// basic.qos would silently truncate it to 16 bits.
		return nil, fmt.Errorf("rabbitbus: subscribe: %w: prefetch %d must be at most %d", eventbus.ErrInvalidOption, prefetch, MaxPrefetch)
	}
	s := &subscription{
		b:        b,
		queue:    QueueName(b.cfg.exchange, group, pattern),
		pattern:  pattern,
		prefetch: prefetch,
		out:      make(chan *delivery),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	// Declare and start consuming once synchronously, so that the group
	// exists (and receives what is published next) when Subscribe returns.
	deliveries, ch, err := s.open(ctx)
	for attempt := 1; err != nil && transient(err); attempt++ {
		// The connection dropped while declaring: wait for the next one.
		if !b.sleep(ctx, b.cfg.backoff.Delay(attempt)) {
			break
		}
		deliveries, ch, err = s.open(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("rabbitbus: subscribe %s %s: %w", group, pattern, err)
	}
	b.mu.Lock()
	if b.isClosed {
		b.mu.Unlock()
		_ = ch.Close()
		return nil, fmt.Errorf("rabbitbus: subscribe: %w", eventbus.ErrClosed)
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go s.run(deliveries, ch)
	return s, nil
}

// subscription consumes one group queue. Its goroutine (run) owns the
// consuming channel and re-opens it after a reconnect; close stops and
// waits for it.
type subscription struct {
	b        *Bus
	queue    string
	pattern  string
	prefetch int
	out      chan *delivery
	done     chan struct{} // closed by close
	stopped  chan struct{} // closed when run returns
	once     sync.Once
}

// open declares the topology of the subscription on the current
// connection and starts consuming.
func (s *subscription) open(ctx context.Context) (<-chan amqp.Delivery, *amqp.Channel, error) {
	ch, _, err := s.b.channel(ctx)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (<-chan amqp.Delivery, *amqp.Channel, error) {
		_ = ch.Close()
		return nil, nil, err
	}
	args := amqp.Table{"x-dead-letter-exchange": s.b.cfg.deadExchange}
	for k, v := range s.b.cfg.queueArgs {
		args[k] = v
	}
	if _, err := ch.QueueDeclare(s.queue, true, false, false, false, args); err != nil {
		return fail(fmt.Errorf("declare queue %s: %w", s.queue, err))
	}
	if err := ch.QueueBind(s.queue, BindingKey(s.pattern), s.b.cfg.exchange, false, nil); err != nil {
		return fail(fmt.Errorf("bind queue %s: %w", s.queue, err))
	}
	if err := ch.Qos(s.prefetch, 0, false); err != nil {
		return fail(fmt.Errorf("qos: %w", err))
	}
	deliveries, err := ch.Consume(s.queue, "", false, false, false, false, nil)
	if err != nil {
		return fail(fmt.Errorf("consume %s: %w", s.queue, err))
	}
	return deliveries, ch, nil
}

// run hands deliveries to Next until close, re-opening the subscription
// whenever its channel or connection is lost.
func (s *subscription) run(deliveries <-chan amqp.Delivery, ch *amqp.Channel) {
	defer close(s.stopped)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-s.stopped:
		}
	}()
	for {
		s.pump(deliveries)
		_ = ch.Close() // unacknowledged deliveries go back to the queue
		select {
		case <-s.done:
			return
		default:
		}
		for attempt := 1; ; attempt++ {
			var err error
			deliveries, ch, err = s.open(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil || !s.b.sleep(ctx, s.b.cfg.backoff.Delay(attempt)) {
				return
			}
			s.b.cfg.logger.Warn("rabbitbus: resubscribe failed", "queue", s.queue, "error", err)
		}
	}
}

// pump forwards deliveries until the channel closes or the subscription
// does.
func (s *subscription) pump(deliveries <-chan amqp.Delivery) {
	for {
		select {
		case <-s.done:
			return
		case d, ok := <-deliveries:
			if !ok {
				return
			}
			msg, attempt, err := s.b.decode(&d)
			if err != nil {
				s.b.cfg.logger.Error("rabbitbus: undecodable message dead-lettered", "queue", s.queue,
					"message_id", d.MessageId, "error", err)
				_ = d.Reject(false)
				continue
			}
			if !eventbus.Match(s.pattern, msg.Type) {
				_ = d.Ack(false) // "a.#" also binds "a", which "a.>" does not match
				continue
			}
			select {
			case s.out <- &delivery{s: s, d: d, msg: msg, attempt: attempt}:
			case <-s.done:
				return
			}
		}
	}
}

// Next returns the next delivery.
func (s *subscription) Next(ctx context.Context) (eventbus.Delivery, error) {
	select {
	case d := <-s.out:
		return d, nil
	case <-s.done:
		return nil, fmt.Errorf("rabbitbus: next: %w", eventbus.ErrClosed)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops consuming; deliveries not yet acknowledged go back to the
// queue for another instance of the group. It is idempotent.
func (s *subscription) Close() error {
	s.b.forget(s)
	s.close()
	return nil
}

func (s *subscription) close() {
	s.once.Do(func() { close(s.done) })
	<-s.stopped
}
