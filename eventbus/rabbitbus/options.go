package rabbitbus

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultExchange is the topic exchange of domain events, the name most
// RabbitMQ services of this shape use.
const DefaultExchange = "domain_events"

// Option configures a Bus.
type Option func(*config) error

type config struct {
	exchange     string
	deadExchange string
	deadQueue    string
	prefetch     int
	logger       *slog.Logger
	backoff      retry.Backoff // of reconnects and of retries across them
	queueArgs    map[string]any

	classicEnvelope bool
}

func defaults() config {
	return config{
		exchange: DefaultExchange,
		prefetch: 64,
		logger:   slog.Default(),
		backoff:  retry.Backoff{Initial: 50 * time.Millisecond, Max: 2 * time.Second, Jitter: retry.EqualJitter},
	}
}

func configure(opts []Option) (config, error) {
	c := defaults()
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(&c); err != nil {
			return c, err
		}
	}
	if c.deadExchange == "" {
		c.deadExchange = c.exchange + ".dlx"
	}
	if c.deadQueue == "" {
		c.deadQueue = c.exchange + ".dead"
	}
	return c, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("rabbitbus: %w: "+format, append([]any{eventbus.ErrInvalidOption}, args...)...)
}

// WithExchange sets the topic exchange events are published to. Default
// DefaultExchange. The dead-letter exchange and queue are named after it
// unless set with WithDeadLetter.
func WithExchange(name string) Option {
	return func(c *config) error {
		if name == "" || len(name) > 200 {
			return invalid("exchange %q must have 1 to 200 bytes", name)
		}
		c.exchange = name
		return nil
	}
}

// WithDeadLetter sets the exchange that rejected (terminated) deliveries
// are dead-lettered to and the queue that keeps them, each of 1 to 255
// bytes. Default: the exchange's name plus ".dlx" and ".dead".
func WithDeadLetter(exchange, queue string) Option {
	return func(c *config) error {
		if exchange == "" || queue == "" || len(exchange) > 255 || len(queue) > 255 {
			return invalid("dead-letter exchange %q and queue %q must have 1 to 255 bytes", exchange, queue)
		}
		c.deadExchange, c.deadQueue = exchange, queue
		return nil
	}
}

// MaxPrefetch is the largest prefetch AMQP's basic.qos can carry, for
// WithPrefetch and eventbus.WithPrefetch alike.
const MaxPrefetch = 65535

// WithPrefetch sets the default prefetch (basic.qos count) of
// subscriptions; eventbus.WithPrefetch overrides it per subscription.
// Default 64. n must be in [1, MaxPrefetch].
func WithPrefetch(n int) Option {
	return func(c *config) error {
		if n <= 0 || n > MaxPrefetch {
			return invalid("prefetch %d must be in [1, %d]", n, MaxPrefetch)
		}
		c.prefetch = n
		return nil
	}
}

// WithLogger sets the logger of connection losses and reconnects. Default,
// and with nil, slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l != nil {
			c.logger = l
		}
		return nil
	}
}

// WithReconnectBackoff sets the first and the largest pause between
// attempts to reconnect; the pause doubles from min to max, each a random
// time between half and all of it (retry.EqualJitter), so that consumers
// that lost a broker together do not all come back at the same instant.
// Default 50ms and 2s.
func WithReconnectBackoff(minPause, maxPause time.Duration) Option {
	return func(c *config) error {
		if minPause <= 0 || maxPause < minPause {
			return invalid("reconnect backoff %s..%s: need 0 < min <= max", minPause, maxPause)
		}
		c.backoff.Initial, c.backoff.Max = minPause, maxPause
		return nil
	}
}

// WithQueueArguments adds x-arguments to every group queue the bus
// declares, e.g. {"x-queue-type": "quorum"}. They must match those of a
// queue that already exists, or Subscribe fails. Values must be of types
// AMQP tables carry, and "x-dead-letter-exchange" is the bus's own (set it
// with WithDeadLetter). nil adds none.
func WithQueueArguments(args map[string]any) Option {
	return func(c *config) error {
		if _, ok := args["x-dead-letter-exchange"]; ok {
			return invalid("queue argument x-dead-letter-exchange: use WithDeadLetter")
		}
		if err := amqp.Table(args).Validate(); err != nil {
			return invalid("queue arguments: %v", err)
		}
		c.queueArgs = args
		return nil
	}
}

// WithClassicEnvelope puts the classic JSON envelope in the body of every
// message the bus publishes (Nack's republishes included):
//
//	{"eventId": ID, "eventType": Type, "occurredAt": Time, "payload": Data}
//
// with occurredAt in JavaScript's toISOString form (UTC, milliseconds) and
// content-type application/json, so that services in other languages that
// read that body interoperate. Data must be JSON; Publish refuses other
// data with an error wrapping eventbus.ErrInvalidMessage. The AMQP
// properties and headers still carry the whole envelope (the exact time,
// Subject, Source, Metadata, attempts).
//
// Subscriptions then accept that body from any publisher, a plain AMQP
// client included: eventId and eventType give the message's ID and type
// (the message-id and type properties, or the routing key, stand in for
// them when absent), occurredAt its time and payload its data. A body that
// is not a JSON object with "eventType" and "payload" is the data, as
// without this option, so publishers of both kinds can feed one queue
// while services move over.
func WithClassicEnvelope() Option {
	return func(c *config) error {
		c.classicEnvelope = true
		return nil
	}
}
