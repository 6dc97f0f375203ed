package ratelimit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Local is an in-process token-bucket limiter with one bucket per key, on
// golang.org/x/time/rate. Memory is bounded: a key idle long enough for its
// bucket to be full again is evicted (which loses nothing, since a new
// bucket starts full), and beyond MaxKeys keys a random key is evicted. It
// is safe for concurrent use.
type Local struct {
	rate      Rate
	limit     rate.Limit
	burst     int
	refill    time.Duration // time for an empty bucket to fill
	maxKeys   int
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// LocalOption configures NewLocal.
type LocalOption func(*Local) error

// WithMaxKeys bounds the number of buckets kept; the default is 100 000.
func WithMaxKeys(n int) LocalOption {
	return func(l *Local) error {
		if n <= 0 {
			return fmt.Errorf("%w: max keys %d", ErrInvalidOption, n)
		}
		l.maxKeys = n
		return nil
	}
}

// NewLocal returns an in-process limiter for r. The error wraps
// ErrInvalidOption.
func NewLocal(r Rate, opts ...LocalOption) (*Local, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	l := &Local{rate: r, limit: rate.Every(r.Interval()), burst: r.BurstOrRequests(),
		maxKeys: 100_000, buckets: map[string]*bucket{}}
	l.refill = r.Interval() * time.Duration(l.burst)
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(l); err != nil {
			return nil, err
		}
	}
	l.lastSweep = time.Now()
	return l, nil
}

// Allow takes one token from key's bucket at time.Now; it never returns an
// error.
func (l *Local) Allow(_ context.Context, key string) (Decision, error) {
	return l.AllowAt(key, time.Now()), nil
}

// AllowAt is Allow at the instant now, for a caller that already read the
// time or keeps its own.
func (l *Local) AllowAt(key string, now time.Time) Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.refill {
		l.sweepLocked(now)
	}
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.maxKeys {
			for k := range l.buckets { // map order is random: a random victim
				delete(l.buckets, k)
				break
			}
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	allowed := b.lim.AllowN(now, 1)
	tokens := b.lim.TokensAt(now)
	d := Decision{Allowed: allowed, Limit: l.burst, Remaining: max(0, int(math.Floor(tokens)))}
	d.ResetAfter = time.Duration((float64(l.burst) - tokens) * float64(l.rate.Interval()))
	if !allowed {
		d.RetryAfter = time.Duration((1 - tokens) * float64(l.rate.Interval()))
	}
	return d
}

// sweepLocked evicts buckets idle for a full refill: they are full again,
// so a new bucket behaves the same.
func (l *Local) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= l.refill {
			delete(l.buckets, k)
		}
	}
	l.lastSweep = now
}

// Len returns the number of buckets held.
func (l *Local) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
