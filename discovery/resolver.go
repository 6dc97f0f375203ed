package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

// Resolver turns a service name into an endpoint without a registry round
// trip: for each service it resolves, one goroutine follows the registry's
// Watch and publishes the set as an immutable snapshot, and Pick reads that
// snapshot through an atomic pointer and lets the service's Balancer choose.
// When the registry is unreachable the resolver keeps serving the last set
// it had (and says so in [Resolver.Status] and to its [Listener]s), and when
// the registry answers with no instances, or far fewer than it had, it
// keeps serving the last set for a grace period (see [PanicPolicy]). Concurrent
// first lookups of a service share one watch. A service no Pick has asked
// for in the idle timeout (see [WithIdleTimeout]) is evicted: its watch
// stops and its listeners hear [EventEvicted], so that resolving names from
// redirects or user input cannot grow goroutines and registry queries
// without bound. A Resolver is safe for concurrent use; Close stops its
// goroutines and waits for them.
type Resolver struct {
	reg         Instancer
	newBalancer func() Balancer
	outlier     outlierConfig
	listeners   []Listener
	logger      *slog.Logger
	minBackoff  time.Duration
	maxBackoff  time.Duration
	idleTimeout time.Duration // <= 0: never evict
	panicPolicy PanicPolicy

	// services is read by every Pick without a lock; it is replaced
	// copy-on-write under mu when a new service is first resolved.
	services atomic.Pointer[serviceIndex]

	mu          sync.Mutex
	closed      bool
	janitorStop chan struct{} // closed by Close; nil until the janitor starts
	wg          sync.WaitGroup
	stopped     chan struct{} // closed when every goroutine has ended after Close
}

// ResolverOption configures a Resolver.
type ResolverOption func(*Resolver) error

// WithBalancer sets the factory of each service's Balancer. The default
// (and what nil means) is LeastRequest.
func WithBalancer(newBalancer func() Balancer) ResolverOption {
	return func(r *Resolver) error {
		if newBalancer == nil {
			newBalancer = LeastRequest
		}
		r.newBalancer = newBalancer
		return nil
	}
}

// WithOutlierEjection turns on passive outlier ejection with policy p. It is
// off by default.
func WithOutlierEjection(p OutlierPolicy) ResolverOption {
	return func(r *Resolver) error {
		p, err := p.withDefaults()
		if err != nil {
			return err
		}
		// Check the breaker accepts the policy, so that endpoints can
		// make theirs without an error path.
		if _, err := breaker.New("check", p.breakerOptions()...); err != nil {
			return fmt.Errorf("%w: outlier policy: %w", ErrInvalidOption, err)
		}
		r.outlier = outlierConfig{OutlierPolicy: p, enabled: true}
		return nil
	}
}

// WithListener adds a listener of the resolver's events, such as the
// Prometheus metrics of package discovery/discoverymetrics. It may be
// given several times; nil adds none.
func WithListener(l Listener) ResolverOption {
	return func(r *Resolver) error {
		if l == nil {
			return nil
		}
		r.listeners = append(r.listeners, l)
		return nil
	}
}

// WithLogger sets the logger of watch errors and ejections. The default
// (and what nil means) is slog.Default().
func WithLogger(l *slog.Logger) ResolverOption {
	return func(r *Resolver) error {
		if l == nil {
			l = slog.Default()
		}
		r.logger = l
		return nil
	}
}

// WithWatchBackoff sets the wait after a failed watch call, doubling from
// minimum to maximum, each wait a random time between half and all of it
// (retry.EqualJitter). Zero values mean 50ms and 2s.
func WithWatchBackoff(minimum, maximum time.Duration) ResolverOption {
	return func(r *Resolver) error {
		if minimum < 0 || maximum < 0 || (maximum > 0 && maximum < minimum) {
			return fmt.Errorf("%w: watch backoff %v..%v", ErrInvalidOption, minimum, maximum)
		}
		if minimum > 0 {
			r.minBackoff = minimum
		}
		if maximum > 0 {
			r.maxBackoff = maximum
		}
		return nil
	}
}

// NewResolver returns a resolver over reg, which it only reads.
func NewResolver(reg Instancer, opts ...ResolverOption) (*Resolver, error) {
	if reg == nil {
		return nil, fmt.Errorf("discovery: new resolver: %w: nil registry", ErrInvalidOption)
	}
	r := &Resolver{
		reg:         reg,
		newBalancer: LeastRequest,
		logger:      slog.Default(),
		minBackoff:  50 * time.Millisecond,
		maxBackoff:  2 * time.Second,
		idleTimeout: DefaultIdleTimeout,
	}
	r.panicPolicy, _ = PanicPolicy{}.withDefaults()
	for _, opt := range opts {
		if opt == nil {
			continue // a nil Option is no option
		}
		if err := opt(r); err != nil {
			return nil, fmt.Errorf("discovery: new resolver: %w", err)
		}
	}
	if r.maxBackoff < r.minBackoff {
		r.maxBackoff = r.minBackoff
	}
	r.services.Store(&serviceIndex{})
	return r, nil
}

// Pick returns an endpoint of service chosen by the balancer among the
// instances not ejected. The caller must call Done on it when the request
// ends. The first Pick of a service waits (within ctx) for the registry's
// first answer; later ones read the snapshot and do not allocate. With no
// healthy instance the error wraps ErrNoInstances.
func (r *Resolver) Pick(ctx context.Context, service string) (*Endpoint, error) {
	return r.pick(ctx, service, nil)
}

func (r *Resolver) pick(ctx context.Context, service string, avoid *Endpoint) (*Endpoint, error) {
	st := r.services.Load().get(service)
	for {
		if st == nil {
			var err error
			if st, err = r.start(service); err != nil {
				return nil, err
			}
		} else if !st.picked.Load() {
			// The mark tells the eviction sweep the service is in use. It
			// is written once per sweep, not per Pick, so that picks from
			// many cores do not fight over its cache line, and it costs no
			// clock reading (time.Now is about twice a Pick).
			st.picked.Store(true)
		}
		snap := st.snap.Load()
		if snap == nil {
			var err error
			if snap, err = st.wait(ctx); errors.Is(err, errEvicted) {
				st = nil
				continue
			} else if err != nil {
				return nil, err
			}
		}
		if !snap.reviewAt.IsZero() && !time.Now().Before(snap.reviewAt) {
			snap = st.review()
		}
		eps := snap.active
		if len(eps) == 0 {
			return nil, st.noInstances()
		}
		ep := st.balancer.Pick(eps)
		if avoid != nil && ep == avoid && len(eps) > 1 {
			// A retry should go elsewhere: ask the balancer again, then fall
			// back to the neighbour.
			if ep = st.balancer.Pick(eps); ep == avoid {
				for i, e := range eps {
					if e == avoid {
						ep = eps[(i+1)%len(eps)]
						break
					}
				}
			}
		}
		ep.inflight.Add(1)
		// The request in flight pins the service; an eviction that began
		// before it counted (see tryEvict) makes this pick start over on
		// the service's next state.
		if !st.evicted.Load() {
			return ep, nil
		}
		ep.inflight.Add(-1)
		st = nil
	}
}

// start returns the state of service, starting its watch on first use.
func (r *Resolver) start(service string) (*serviceState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("discovery: resolve %q: %w", service, ErrClosed)
	}
	old := r.services.Load()
	if st := old.get(service); st != nil {
		st.picked.Store(true)
		return st, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	st := &serviceState{
		r:         r,
		cancel:    cancel,
		name:      service,
		balancer:  r.newBalancer(),
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
		idleSince: time.Now(),
		endpoints: map[string]*Endpoint{},
		guard:     &PanicGuard{policy: r.panicPolicy},
	}
	r.services.Store(old.with(st))
	r.wg.Add(1)
	go st.watchLoop(ctx)
	r.startJanitorLocked()
	return st, nil
}

// ServiceStatus is what the resolver knows about one service.
type ServiceStatus struct {
	// Instances is the set the resolver serves, sorted by ID: the last set
	// the registry gave or, while an answer is held back, the last accepted
	// set with that answer's instances.
	Instances []Instance
	// Ejected lists the IDs of instances ejected as outliers now.
	Ejected []string
	// EjectedUntil is, for each instance in Ejected, when its ejection
	// ends and it is picked again.
	EjectedUntil map[string]time.Time
	// Stale is true while Instances is the last known set rather than the
	// registry's answer: the registry is unreachable, or its answer is
	// held back as suspect (see HeldUntil).
	Stale bool
	// HeldUntil is, while a suspect answer is held back (see
	// [PanicPolicy]), when the grace period ends and the answer is taken;
	// zero otherwise.
	HeldUntil time.Time
	// LastError is the last watch error, nil once the watch recovers.
	LastError error
}

// Status returns what the resolver knows about service; the zero
// ServiceStatus if it has not resolved it yet or has evicted it as idle.
func (r *Resolver) Status(service string) ServiceStatus {
	st := r.services.Load().get(service)
	if st == nil {
		return ServiceStatus{}
	}
	now := time.Now()
	if snap := st.snap.Load(); snap != nil && !snap.reviewAt.IsZero() && !now.Before(snap.reviewAt) {
		st.review() // a grace period that ended shows as ended
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	out := ServiceStatus{Stale: st.stale, HeldUntil: st.guard.HeldUntil(), LastError: st.lastErr}
	if snap := st.snap.Load(); snap != nil {
		for _, ep := range snap.all {
			out.Instances = append(out.Instances, ep.instance.Clone())
			if ep.isEjected(now) {
				out.Ejected = append(out.Ejected, ep.instance.ID)
				if out.EjectedUntil == nil {
					out.EjectedUntil = make(map[string]time.Time)
				}
				out.EjectedUntil[ep.instance.ID] = ep.ejectedUntil
			}
		}
	}
	return out
}

// Services returns the names of the services the resolver follows now,
// sorted: those it has resolved and not evicted as idle.
func (r *Resolver) Services() []string {
	all := r.services.Load().all
	out := make([]string, 0, len(all))
	for name := range all {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Close stops every watch and the eviction sweep and waits for their
// goroutines until ctx ends; it then returns an error wrapping ctx's, and
// the goroutines still end once the registry's watch calls return. Close is
// idempotent and safe to call concurrently: every call waits for the same
// goroutines. Pick then fails with ErrClosed for services not resolved
// before, and keeps serving the last snapshot for the others, which are no
// longer evicted.
func (r *Resolver) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		if r.janitorStop != nil {
			close(r.janitorStop)
		}
		for _, st := range r.services.Load().all {
			st.cancel()
		}
		r.stopped = make(chan struct{})
		go func(stopped chan<- struct{}) {
			r.wg.Wait()
			close(stopped)
		}(r.stopped)
	}
	stopped := r.stopped
	r.mu.Unlock()
	return awaitClosed(ctx, stopped, "resolver")
}

var errNotYet = errors.New("discovery: no answer from the registry yet")

// serviceIndex is an immutable map of service names to their state. Most
// clients resolve one service, so that case skips the map's hashing.
type serviceIndex struct {
	all  map[string]*serviceState
	only *serviceState // the single entry, when there is exactly one
}

func (x *serviceIndex) get(service string) *serviceState {
	if x.only != nil && x.only.name == service {
		return x.only
	}
	return x.all[service]
}

// with returns a copy of x that also holds st.
func (x *serviceIndex) with(st *serviceState) *serviceIndex {
	next := &serviceIndex{all: make(map[string]*serviceState, len(x.all)+1)}
	for k, v := range x.all {
		next.all[k] = v
	}
	next.all[st.name] = st
	if len(next.all) == 1 {
		next.only = st
	}
	return next
}
