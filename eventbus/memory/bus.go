package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/go-microkit/microkit/eventbus"
)

// Option configures a Bus. New takes options as every bus constructor
// does; the memory bus defines none. Delayed redeliveries run on the time
// package's timers, so tests drive them in a testing/synctest bubble.
type Option func(*Bus) error

// Bus is an in-memory broker. The Bus itself is an eventbus.Publisher and
// eventbus.Subscriber; Client returns further independent handles on the
// same broker, as separate processes would hold. It is safe for concurrent
// use.
type Bus struct {
	mu      sync.Mutex
	queues  map[queueKey]*queue
	list    []*queue // the queues in creation order, for routing
	clients map[*Client]struct{}
	closed  bool

	def *Client
}

type queueKey struct{ group, pattern string }

// New returns an empty bus.
func New(opts ...Option) (*Bus, error) {
	b := &Bus{queues: make(map[queueKey]*queue), clients: make(map[*Client]struct{})}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(b); err != nil {
			return nil, fmt.Errorf("memory: new: %w", err)
		}
	}
	b.def = b.Client()
	return b, nil
}

// Client returns a new handle on the bus, standing for one process: closing
// it closes only its own subscriptions (their unsettled deliveries are
// redelivered to other instances) and leaves the bus running.
func (b *Bus) Client() *Client {
	c := &Client{bus: b, subs: make(map[*subscription]struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		c.closed = true
		return c
	}
	b.clients[c] = struct{}{}
	return c
}

// Publish publishes through the bus's own client; see Client.Publish.
func (b *Bus) Publish(ctx context.Context, msgs ...*eventbus.Message) error {
	return b.def.Publish(ctx, msgs...)
}

// Subscribe subscribes through the bus's own client; see Client.Subscribe.
func (b *Bus) Subscribe(ctx context.Context, group, pattern string, opts ...eventbus.SubscribeOption) (eventbus.Subscription, error) {
	return b.def.Subscribe(ctx, group, pattern, opts...)
}

// Close closes the bus, every client and every subscription, and drops the
// queued messages. Nothing of it waits, so ctx is not needed; Close takes
// it to be an eventbus.Publisher and Subscriber. It is idempotent.
func (b *Bus) Close(context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	clients := make([]*Client, 0, len(b.clients))
	for c := range b.clients {
		clients = append(clients, c)
	}
	queues := b.list
	b.mu.Unlock()
	for _, c := range clients {
		c.close()
	}
	for _, q := range queues {
		q.close()
	}
	return nil
}

// publish routes clones of msgs to every queue whose pattern matches.
func (b *Bus) publish(msgs []*eventbus.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return eventbus.ErrClosed
	}
	for _, m := range msgs {
		var shared *eventbus.Message
		for _, q := range b.list {
			if !eventbus.Match(q.key.pattern, m.Type) {
				continue
			}
			c := shared
			if c == nil {
				c = m.Clone()
				shared = c
			} else {
				c = c.Clone()
			}
			q.push(c)
		}
	}
	return nil
}

// queueFor returns the queue of (group, pattern), creating it.
func (b *Bus) queueFor(group, pattern string) (*queue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, eventbus.ErrClosed
	}
	k := queueKey{group, pattern}
	q := b.queues[k]
	if q == nil {
		q = newQueue(k)
		b.queues[k] = q
		b.list = append(b.list, q)
	}
	return q, nil
}

func (b *Bus) forget(c *Client) {
	b.mu.Lock()
	delete(b.clients, c)
	b.mu.Unlock()
}

// Client is one handle on a Bus, an eventbus.Publisher and
// eventbus.Subscriber. It is safe for concurrent use.
type Client struct {
	bus *Bus

	mu     sync.Mutex
	subs   map[*subscription]struct{}
	closed bool
}

// Publish enqueues a copy of each message on every queue whose pattern
// matches its type; when it returns, the messages are accepted. It validates
// all messages before enqueueing any.
func (c *Client) Publish(ctx context.Context, msgs ...*eventbus.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: publish: %w", err)
	}
	for _, m := range msgs {
		if err := m.Validate(); err != nil {
			return fmt.Errorf("memory: publish: %w", err)
		}
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return fmt.Errorf("memory: publish: %w", eventbus.ErrClosed)
	}
	if err := c.bus.publish(msgs); err != nil {
		return fmt.Errorf("memory: publish: %w", err)
	}
	return nil
}

// Subscribe joins the queue of (group, pattern), creating it on first use.
// Prefetch is ignored: the bus hands out one message per Next.
func (c *Client) Subscribe(ctx context.Context, group, pattern string, opts ...eventbus.SubscribeOption) (eventbus.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: subscribe: %w", err)
	}
	if err := eventbus.ValidateGroup(group); err != nil {
		return nil, fmt.Errorf("memory: subscribe: %w", err)
	}
	if err := eventbus.ValidatePattern(pattern); err != nil {
		return nil, fmt.Errorf("memory: subscribe: %w", err)
	}
	if _, err := eventbus.NewSubscribeSettings(opts...); err != nil {
		return nil, fmt.Errorf("memory: subscribe: %w", err)
	}
	q, err := c.bus.queueFor(group, pattern)
	if err != nil {
		return nil, fmt.Errorf("memory: subscribe: %w", err)
	}
	s := &subscription{q: q, client: c, done: make(chan struct{}), inflight: make(map[*entry]struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("memory: subscribe: %w", eventbus.ErrClosed)
	}
	c.subs[s] = struct{}{}
	return s, nil
}

// Close closes the client's subscriptions; their unsettled deliveries are
// redelivered to other instances. Nothing of it waits (see Bus.Close). It
// is idempotent.
func (c *Client) Close(context.Context) error {
	c.close()
	return nil
}

func (c *Client) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	subs := make([]*subscription, 0, len(c.subs))
	for s := range c.subs {
		subs = append(subs, s)
	}
	c.subs = nil
	c.mu.Unlock()
	for _, s := range subs {
		s.close()
	}
	c.bus.forget(c)
}

func (c *Client) forget(s *subscription) {
	c.mu.Lock()
	delete(c.subs, s)
	c.mu.Unlock()
}
