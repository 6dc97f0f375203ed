package gateway

import (
	"fmt"

	"github.com/go-microkit/microkit/breaker"
)

// breakerSet adapts a breaker.Set to Breakers.
type breakerSet struct{ set *breaker.Set }

// BreakerSet returns Breakers backed by set: one circuit breaker per
// upstream "host:port", made on first use with the set's options. A
// breaker opens on the set's trip rules, counting transport errors,
// timeouts and 5xx answers as failures (a client's cancellation is not
// counted); while it is open the route answers 503 with Retry-After at
// once, without calling the upstream.
func BreakerSet(set *breaker.Set) (Breakers, error) {
	if set == nil {
		return nil, fmt.Errorf("%w: nil breaker set", ErrInvalidOption)
	}
	return breakerSet{set: set}, nil
}

func (b breakerSet) Allow(upstream string) (func(error), error) {
	done, err := b.set.Get(upstream).Allow()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUpstreamUnavailable, err)
	}
	return done, nil
}
