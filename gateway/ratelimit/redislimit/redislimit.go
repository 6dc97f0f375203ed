package redislimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-microkit/microkit/gateway/ratelimit"
)

// Limiter is a distributed ratelimit.Limiter on Redis: a GCRA (generic
// cell rate algorithm) token bucket per key, run as one Lua script
// (EVALSHA, falling back to EVAL when Redis does not have it cached), so
// that several gateway instances enforce one budget. When Redis fails, it
// decides with a local fallback limiter instead and leaves Redis alone for
// a cool-down period, so a Redis outage costs neither availability nor
// latency; each instance then enforces the limit on its own. The budget
// runs on the Redis server's clock, one clock for every instance; the
// cool-down runs on time.Now. It is safe for concurrent use and starts no
// goroutine.
type Limiter struct {
	client   redis.Scripter
	rate     ratelimit.Rate
	interval int64 // µs
	burst    int
	prefix   string
	fallback ratelimit.Limiter
	cooldown time.Duration
	timeout  time.Duration
	logger   *slog.Logger
	// scriptNow, when set, is the time the script decides at, instead of
	// the Redis server's clock; only tests set it (export_test.go), to step
	// a real Redis through refills at exact instants.
	scriptNow func() time.Time

	mu        sync.Mutex
	downUntil time.Time
}

// Option configures New.
type Option func(*Limiter) error

// WithPrefix sets the prefix of the Redis keys; the default is
// "microkit:ratelimit:".
func WithPrefix(p string) Option {
	return func(l *Limiter) error {
		l.prefix = p
		return nil
	}
}

// WithFallback sets the limiter used while Redis is down; the default (and
// what nil means) is a ratelimit.Local with the same rate.
func WithFallback(f ratelimit.Limiter) Option {
	return func(l *Limiter) error {
		l.fallback = f
		return nil
	}
}

// WithCooldown sets how long Redis is skipped after a failure; the default
// is one second.
func WithCooldown(d time.Duration) Option {
	return func(l *Limiter) error {
		if d < 0 {
			return fmt.Errorf("%w: negative cooldown", ratelimit.ErrInvalidOption)
		}
		l.cooldown = d
		return nil
	}
}

// WithTimeout bounds each Redis call; the default is 100 ms. A slower
// Redis counts as down.
func WithTimeout(d time.Duration) Option {
	return func(l *Limiter) error {
		if d <= 0 {
			return fmt.Errorf("%w: timeout must be positive", ratelimit.ErrInvalidOption)
		}
		l.timeout = d
		return nil
	}
}

// WithLogger sets the logger for Redis failures; the default (and what nil
// means) is slog.Default.
func WithLogger(lg *slog.Logger) Option {
	return func(l *Limiter) error {
		if lg == nil {
			lg = slog.Default()
		}
		l.logger = lg
		return nil
	}
}

// New returns a limiter for r on client (a *redis.Client, *redis.ClusterClient
// or *redis.Ring). The error wraps ratelimit.ErrInvalidOption.
func New(client redis.Scripter, r ratelimit.Rate, opts ...Option) (*Limiter, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil Redis client", ratelimit.ErrInvalidOption)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	l := &Limiter{client: client, rate: r, interval: r.Interval().Microseconds(), burst: r.BurstOrRequests(),
		prefix: "microkit:ratelimit:", cooldown: time.Second, timeout: 100 * time.Millisecond,
		logger: slog.Default()}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(l); err != nil {
			return nil, err
		}
	}
	if l.fallback == nil {
		local, err := ratelimit.NewLocal(r)
		if err != nil {
			return nil, err
		}
		l.fallback = local
	}
	return l, nil
}

// Allow takes one request from key's shared budget, or from the fallback
// while Redis is down. It returns an error only if the fallback does, or
// when ctx is done.
func (l *Limiter) Allow(ctx context.Context, key string) (ratelimit.Decision, error) {
	now := time.Now()
	l.mu.Lock()
	down := now.Before(l.downUntil)
	l.mu.Unlock()
	if !down {
		d, err := l.allowRedis(ctx, key)
		if err == nil {
			return d, nil
		}
		if ctx.Err() != nil {
			return ratelimit.Decision{}, fmt.Errorf("redislimit: allow: %w", ctx.Err())
		}
		l.markDown(ctx, now, err)
	}
	return l.fallback.Allow(ctx, key)
}

func (l *Limiter) markDown(ctx context.Context, now time.Time, err error) {
	l.mu.Lock()
	l.downUntil = now.Add(l.cooldown)
	l.mu.Unlock()
	l.logger.LogAttrs(ctx, slog.LevelWarn, "redislimit: Redis unavailable, using the local fallback",
		slog.String("error", err.Error()), slog.Duration("cooldown", l.cooldown))
}

func (l *Limiter) allowRedis(ctx context.Context, key string) (ratelimit.Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	var nowArg int64 // 0: the script reads the Redis server's clock
	if l.scriptNow != nil {
		nowArg = l.scriptNow().UnixMicro()
	}
	res, err := gcraScript.Run(ctx, l.client, []string{l.prefix + key},
		strconv.FormatInt(l.interval, 10), strconv.Itoa(l.burst), strconv.FormatInt(nowArg, 10)).Int64Slice()
	if err != nil {
		return ratelimit.Decision{}, fmt.Errorf("redislimit: script: %w", err)
	}
	if len(res) != 4 {
		return ratelimit.Decision{}, errors.New("redislimit: script: unexpected reply")
	}
	return ratelimit.Decision{
		Allowed:    res[0] == 1,
		Limit:      l.burst,
		Remaining:  int(res[1]),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
		ResetAfter: time.Duration(res[3]) * time.Microsecond,
	}, nil
}
