package natsbus

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Option configures a Bus.
type Option func(*config) error

type config struct {
	stream         string
	prefix         string
	bind           bool
	streamEdit     func(*jetstream.StreamConfig)
	ackWait        time.Duration
	maxDeliver     int
	maxAckPending  int
	prefetch       int
	deliverPolicy  jetstream.DeliverPolicy
	attemptTimeout time.Duration
	confirmAcks    bool
	logger         *slog.Logger
	natsOpts       []nats.Option
}

func defaults() config {
	return config{
		stream:         "EVENTS",
		prefix:         "events",
		ackWait:        30 * time.Second,
		maxDeliver:     -1,
		maxAckPending:  1000,
		prefetch:       64,
		deliverPolicy:  jetstream.DeliverNewPolicy,
		attemptTimeout: 5 * time.Second,
		logger:         slog.Default(),
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("natsbus: %w: %s", eventbus.ErrInvalidOption, fmt.Sprintf(format, args...))
}

// WithStream names the JetStream stream: at most 255 bytes, none of them
// white space, '.', '*', '>', '/' or '\' (the server would refuse it).
// Default "EVENTS".
func WithStream(name string) Option {
	return func(c *config) error {
		if name == "" || len(name) > 255 {
			return invalid("stream name %q must have 1 to 255 bytes", name)
		}
		for _, r := range name {
			if unicode.IsSpace(r) || !unicode.IsPrint(r) || strings.ContainsRune(".*>/\\", r) {
				return invalid("stream name %q: invalid character %q", name, r)
			}
		}
		c.stream = name
		return nil
	}
}

// WithSubjectPrefix sets the subject prefix: type t is published on
// "<prefix>.<t>". Default "events".
func WithSubjectPrefix(prefix string) Option {
	return func(c *config) error {
		if err := eventbus.ValidateType(prefix); err != nil {
			return invalid("subject prefix: %v", err)
		}
		c.prefix = prefix
		return nil
	}
}

// WithBindStream binds to an existing stream instead of creating or
// updating it; New fails if the stream does not exist.
func WithBindStream() Option {
	return func(c *config) error {
		c.bind = true
		return nil
	}
}

// WithStreamConfig lets edit adjust the provisioned stream's configuration
// (retention, limits, replicas) before it is created or updated. The default
// is file storage, limits retention with a 7-day MaxAge and a 2-minute
// duplicate window; a nil edit keeps it.
func WithStreamConfig(edit func(*jetstream.StreamConfig)) Option {
	return func(c *config) error {
		if edit != nil {
			c.streamEdit = edit
		}
		return nil
	}
}

// WithAckWait sets how long JetStream waits for a delivery to be settled
// before it redelivers it to any instance. It counts from when the server
// sends the message, time in the prefetch included: keep handler timeouts
// well below it, and the prefetch small enough that a message does not
// wait that long for a worker. Default 30s.
func WithAckWait(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("ack wait %s must be positive", d)
		}
		c.ackWait = d
		return nil
	}
}

// WithMaxDeliver caps deliveries per message on the broker, a backstop
// behind the router's Retry and DeadLetter: a message that reaches it is no
// longer delivered and is not dead-lettered. Set it above the retry policy's
// MaxAttempts. Default -1, unlimited.
func WithMaxDeliver(n int) Option {
	return func(c *config) error {
		if n == 0 || n < -1 {
			return invalid("max deliver %d must be positive or -1", n)
		}
		c.maxDeliver = n
		return nil
	}
}

// WithMaxAckPending caps the unsettled deliveries of one consumer group
// across all its instances. Default 1000.
func WithMaxAckPending(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return invalid("max ack pending %d must be positive", n)
		}
		c.maxAckPending = n
		return nil
	}
}

// WithPrefetch sets how many messages a subscription holds ahead of Next
// (three quarters requested from the server, a quarter queued) when its
// Subscribe call does not say. Default 64.
func WithPrefetch(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return invalid("prefetch %d must be positive", n)
		}
		c.prefetch = n
		return nil
	}
}

// WithDeliverPolicy sets where a consumer group created for the first time
// starts: jetstream.DeliverNewPolicy (default) skips what the stream held
// before, jetstream.DeliverAllPolicy replays it (useful for a dead-letter
// consumer added later).
func WithDeliverPolicy(p jetstream.DeliverPolicy) Option {
	return func(c *config) error {
		switch p {
		case jetstream.DeliverAllPolicy, jetstream.DeliverNewPolicy, jetstream.DeliverLastPolicy, jetstream.DeliverLastPerSubjectPolicy:
			c.deliverPolicy = p
			return nil
		}
		return invalid("deliver policy %v needs a start sequence or time", p)
	}
}

// WithPublishAttemptTimeout bounds one publish attempt; Publish retries
// until its context ends. Default 5s.
func WithPublishAttemptTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("publish attempt timeout %s must be positive", d)
		}
		c.attemptTimeout = d
		return nil
	}
}

// WithConfirmedAcks makes Ack wait for the server to confirm it (a round
// trip each), so that an Ack that returns nil is known to be recorded.
// Nack and Term are sent without waiting either way (JetStream has no
// confirmed form of them): a lost one means a redelivery after the ack
// wait, which Retry counts and DeadLetter parks. Default: acks are sent
// without waiting too, and a lost one means a redelivery, which
// at-least-once allows.
func WithConfirmedAcks() Option {
	return func(c *config) error {
		c.confirmAcks = true
		return nil
	}
}

// WithLogger sets the logger for reconnects, publish retries and undecodable
// messages. Default, and with nil, slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l != nil {
			c.logger = l
		}
		return nil
	}
}

// WithNATSOptions adds options to the connection Connect opens (ignored by
// New). They apply after the bus's own reconnect settings. Nil entries are
// skipped.
func WithNATSOptions(opts ...nats.Option) Option {
	return func(c *config) error {
		for _, o := range opts {
			if o != nil {
				c.natsOpts = append(c.natsOpts, o)
			}
		}
		return nil
	}
}
