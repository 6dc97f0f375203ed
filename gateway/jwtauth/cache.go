package jwtauth

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// tokenCache remembers tokens that verified, so that a client sending the
// same token on every request costs one map lookup instead of a signature
// check and a JSON decode (a fifth of the gateway's allocations per request
// in bench/gateway_test.go). The key is the whole compact token, signature
// included, so only the exact bytes that verified hit. Time claims are
// checked again on every hit; an entry lives at most ttl, which bounds how
// long a token stays accepted after its key is withdrawn. sync.Map because
// the cache is read on every request and written once per token.
type tokenCache struct {
	max     int64
	ttl     time.Duration
	entries sync.Map // string -> *cacheEntry
	size    atomic.Int64
}

type cacheEntry struct {
	claims *Claims
	until  time.Time // min(verified + ttl, exp + leeway)
}

func (c *tokenCache) get(token string, now time.Time) (*Claims, bool) {
	v, ok := c.entries.Load(token)
	if !ok {
		return nil, false
	}
	e := v.(*cacheEntry)
	if !now.Before(e.until) {
		if c.entries.CompareAndDelete(token, v) {
			c.size.Add(-1)
		}
		return nil, false
	}
	return e.claims, true
}

func (c *tokenCache) put(token string, claims *Claims, now time.Time, leeway time.Duration) {
	until := now.Add(c.ttl)
	if exp := claims.ExpiresAt.Add(leeway); exp.Before(until) {
		until = exp
	}
	if c.size.Load() >= c.max {
		// Full: start over rather than track recency; a cold cache only
		// costs one verification per token.
		c.entries.Range(func(k, _ any) bool {
			c.entries.Delete(k)
			return true
		})
		c.size.Store(0)
	}
	if _, loaded := c.entries.LoadOrStore(token, &cacheEntry{claims: claims, until: until}); !loaded {
		c.size.Add(1)
	}
}

// WithCache sets the verified-token cache: at most maxEntries tokens, each
// kept at most ttl (and never past its "exp"). The default is 10 000
// tokens for one minute; WithCache(0, 0) turns caching off, so that every
// request is verified from scratch.
func WithCache(maxEntries int, ttl time.Duration) Option {
	return func(a *Authenticator) error {
		if maxEntries < 0 || ttl < 0 || (maxEntries == 0) != (ttl == 0) {
			return fmt.Errorf("%w: cache of %d entries for %v", ErrInvalidOption, maxEntries, ttl)
		}
		if maxEntries == 0 {
			a.cache = nil
			return nil
		}
		a.cache = &tokenCache{max: int64(maxEntries), ttl: ttl}
		return nil
	}
}
