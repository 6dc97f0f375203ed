package discovery

import (
	"math/rand/v2"
	"sync/atomic"
)

// Balancer chooses one endpoint of a service for a request. The resolver
// gives each service its own Balancer, made by the factory passed to
// [WithBalancer], and calls Pick with a non-empty slice of the endpoints that
// are not ejected. Pick must not keep or change the slice and must be safe
// for concurrent use; it runs on every request, so the balancers here do not
// allocate.
type Balancer interface {
	Pick(endpoints []*Endpoint) *Endpoint
}

// RoundRobin returns a balancer that takes the endpoints in turn.
func RoundRobin() Balancer { return &roundRobin{} }

type roundRobin struct {
	// next is atomic because every request of every goroutine increments
	// it; a mutex here costs more than the whole pick.
	next atomic.Uint64
}

func (b *roundRobin) Pick(eps []*Endpoint) *Endpoint {
	n := b.next.Add(1) - 1
	return eps[n%uint64(len(eps))]
}

// Random returns a balancer that picks an endpoint uniformly at random.
func Random() Balancer { return random{} }

type random struct{}

func (random) Pick(eps []*Endpoint) *Endpoint { return eps[rand.IntN(len(eps))] }

// Weighted returns a balancer that picks at random in proportion to each
// instance's Weight (a zero Weight counts as 1).
func Weighted() Balancer { return weighted{} }

type weighted struct{}

func (weighted) Pick(eps []*Endpoint) *Endpoint {
	total := 0
	for _, ep := range eps {
		total += ep.weight
	}
	n := rand.IntN(total)
	for _, ep := range eps {
		if n < ep.weight {
			return ep
		}
		n -= ep.weight
	}
	return eps[len(eps)-1]
}

// LeastRequest returns the power-of-two-choices balancer: it draws two
// distinct endpoints at random and takes the one with fewer requests in
// flight per unit of weight. It steers traffic away from a slow instance
// (whose requests pile up) without the herd effect of always choosing the
// global minimum, and needs no shared state beyond the per-endpoint
// counters. It is the default.
func LeastRequest() Balancer { return leastRequest{} }

type leastRequest struct{}

func (leastRequest) Pick(eps []*Endpoint) *Endpoint {
	n := len(eps)
	if n == 1 {
		return eps[0]
	}
	i := rand.IntN(n)
	j := rand.IntN(n - 1)
	if j >= i {
		j++
	}
	a, b := eps[i], eps[j]
	// Compare inflight/weight without division.
	if b.inflight.Load()*int64(a.weight) < a.inflight.Load()*int64(b.weight) {
		return b
	}
	return a
}
