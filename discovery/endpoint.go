package discovery

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

// Endpoint is one instance as the resolver sees it: the instance, its
// requests in flight, and its outlier-ejection state. Every Endpoint returned
// by [Resolver.Pick] must be finished with exactly one call to Done. An
// Endpoint is safe for concurrent use.
type Endpoint struct {
	instance Instance
	addr     string
	weight   int
	svc      *serviceState

	// inflight is atomic because every request changes it twice, on the
	// hot path of Pick and Done, from many goroutines. The padding keeps
	// those writes off the cache line of the read-mostly fields above,
	// which every pick reads (measured: BenchmarkPickParallel).
	_        [64]byte
	inflight atomic.Int64
	_        [56]byte

	// br tracks consecutive failures for outlier ejection; nil when
	// ejection is off.
	br *breaker.Breaker
	// ejectedUntil is when the current or last ejection ends, and
	// ejections the ejection count that sets the next one's length (see
	// OutlierPolicy); guarded by svc.mu.
	ejectedUntil time.Time
	ejections    int
}

func newEndpoint(svc *serviceState, in Instance) *Endpoint {
	ep := &Endpoint{instance: in, addr: in.Addr(), weight: in.EffectiveWeight(), svc: svc}
	if svc.r.outlier.enabled {
		ep.br = svc.r.newBreaker(svc, ep)
	}
	return ep
}

// isEjected reports whether ep is ejected at now; the caller holds svc.mu.
func (e *Endpoint) isEjected(now time.Time) bool { return e.ejectedUntil.After(now) }

// Instance returns the instance. Its Tags and Meta are shared: do not
// change them.
func (e *Endpoint) Instance() Instance { return e.instance }

// Addr returns the instance's "host:port", computed once.
func (e *Endpoint) Addr() string { return e.addr }

// InFlight returns the number of picks of this endpoint not yet Done.
func (e *Endpoint) InFlight() int64 { return e.inflight.Load() }

// Done finishes a request picked with [Resolver.Pick]: a nil err counts as a
// success, anything else as a failure towards outlier ejection. Classify
// before calling: an HTTP 404 is usually a success of the instance. A Done
// with no request in flight (a second Done for one Pick) is ignored, so
// that it cannot drive the count negative and make LeastRequest send every
// request to this endpoint; a second Done while other requests are in
// flight cannot be told apart and still miscounts.
func (e *Endpoint) Done(err error) {
	for {
		n := e.inflight.Load()
		if n <= 0 {
			return
		}
		if e.inflight.CompareAndSwap(n, n-1) {
			break
		}
	}
	if e.br == nil {
		return
	}
	// An open breaker (the instance is ejected) or a probe already out
	// refuses: this is a late result that decides nothing.
	if pm, perr := e.br.Acquire(); perr == nil {
		pm.Done(context.Background(), err)
	}
}
