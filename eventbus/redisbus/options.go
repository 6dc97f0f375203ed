package redisbus

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// Option configures a Bus.
type Option func(*config) error

type config struct {
	stream       string
	minIdle      time.Duration
	prefetch     int
	startOldest  bool
	maxLen       int64
	trimInterval time.Duration
	confirmAcks  bool
	logger       *slog.Logger
}

func defaults() config {
	return config{
		stream:       "events",
		minIdle:      30 * time.Second,
		prefetch:     64,
		maxLen:       100_000,
		trimInterval: time.Minute,
		logger:       slog.Default(),
	}
}

func configure(opts []Option) (config, error) {
	cfg := defaults()
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(&cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("redisbus: %w: %s", eventbus.ErrInvalidOption, fmt.Sprintf(format, args...))
}

// WithStream names the stream every event of the bus goes to; the keys the
// bus keeps beside it (the delayed redeliveries of each group) start with
// the same name and a ':'. 1 to 200 bytes without white space or '{'
// '}' (a hash tag would pin every bus to one cluster slot anyway). Default
// "events".
func WithStream(key string) Option {
	return func(c *config) error {
		if key == "" || len(key) > 200 || strings.ContainsAny(key, " \t\r\n{}") {
			return invalid("stream key %q must have 1 to 200 bytes, no white space or braces", key)
		}
		c.stream = key
		return nil
	}
}

// WithClaimMinIdle sets how long a delivery stays unsettled before any
// instance of its group claims it (XAUTOCLAIM), as when its consumer died.
// It counts from the delivery, time in the prefetch included: keep handler
// timeouts well below it, and the prefetch small enough that an entry does
// not wait that long for a worker. Every process of a group should use the
// same value, since Nack's delays are measured against it. Default 30s.
func WithClaimMinIdle(d time.Duration) Option {
	return func(c *config) error {
		if d < 10*time.Millisecond {
			return invalid("claim min idle %s must be at least 10ms", d)
		}
		c.minIdle = d
		return nil
	}
}

// WithPrefetch sets how many entries a subscription reads ahead of Next
// (the COUNT of its XREADGROUP) when its Subscribe call does not say.
// Default 64.
func WithPrefetch(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return invalid("prefetch %d must be positive", n)
		}
		c.prefetch = n
		return nil
	}
}

// WithStartFromOldest makes a consumer group created for the first time
// start at the oldest entry the stream holds, instead of at its end (only
// what is published from then on). Useful for a dead-letter consumer
// added later.
func WithStartFromOldest() Option {
	return func(c *config) error {
		c.startOldest = true
		return nil
	}
}

// WithMaxLen bounds the stream: trimming removes the oldest entries beyond
// n, but never one that a consumer group has not acknowledged (see
// Bus.Trim). Zero trims every entry that all groups acknowledged. Default
// 100000.
func WithMaxLen(n int64) Option {
	return func(c *config) error {
		if n < 0 {
			return invalid("max len %d must not be negative", n)
		}
		c.maxLen = n
		return nil
	}
}

// WithTrimInterval sets how often a bus that has published trims the
// stream (Bus.Trim); zero turns the background trimming off. Default one
// minute.
func WithTrimInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return invalid("trim interval %s must not be negative", d)
		}
		c.trimInterval = d
		return nil
	}
}

// WithConfirmedAcks makes Ack wait for Redis to confirm the XACK, so that
// an Ack that returns nil is known to be recorded. Default: acks are
// queued and sent in batches without waiting; a lost one means a
// redelivery after the claim min idle, which at-least-once allows.
// Subscription.Close sends the queued acks before it returns either way.
func WithConfirmedAcks() Option {
	return func(c *config) error {
		c.confirmAcks = true
		return nil
	}
}

// WithLogger sets the logger of connection losses and undecodable entries.
// Default, and with nil, slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l != nil {
			c.logger = l
		}
		return nil
	}
}
