package discovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// DefaultIdleTimeout is how long a service may go without a Pick before the
// resolver stops following it: the default host_ttl after which Envoy's
// dynamic forward proxy drops a host nobody uses.
const DefaultIdleTimeout = 5 * time.Minute

// minIdleTimeout is the shortest idle timeout allowed: a shorter one would
// stop and restart watches between the ordinary requests of a quiet client,
// and every restart waits for a registry round trip.
const minIdleTimeout = time.Second

var errEvicted = errors.New("discovery: service evicted while picking")

// WithIdleTimeout sets how long a service may go without a Pick before it is
// evicted: its watch stops (the goroutine ends and the registry query with
// it), its state is dropped and listeners hear [EventEvicted] (the metrics of
// package discovery/discoverymetrics delete the service's series), and the
// next Pick starts it afresh, waiting for the registry's first answer as a
// first Pick does. A sweep every d/4 evicts the services not picked for
// d, so a service goes between d and 1.25×d after its last Pick. A service is never evicted while
// a Pick of it is under way or one of its endpoints has a request in
// flight, nor while its registry is unreachable and it still has a last
// known set to serve. Zero means [DefaultIdleTimeout]; a negative d turns
// eviction off (every service is followed until Close); a positive d under
// a second is invalid.
func WithIdleTimeout(d time.Duration) ResolverOption {
	return func(r *Resolver) error {
		switch {
		case d == 0:
			r.idleTimeout = DefaultIdleTimeout
		case d > 0 && d < minIdleTimeout:
			return fmt.Errorf("%w: idle timeout %v under %v", ErrInvalidOption, d, minIdleTimeout)
		default:
			r.idleTimeout = d
		}
		return nil
	}
}

// startJanitorLocked starts the sweep goroutine on the first service, so a
// resolver that resolves nothing runs none; the caller holds r.mu.
func (r *Resolver) startJanitorLocked() {
	if r.idleTimeout <= 0 || r.janitorStop != nil {
		return
	}
	r.janitorStop = make(chan struct{})
	r.wg.Add(1)
	go r.janitor(r.janitorStop)
}

func (r *Resolver) janitor(stop <-chan struct{}) {
	defer r.wg.Done()
	t := time.NewTicker(r.idleTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			r.evictIdle()
		}
	}
}

// evictIdle runs one eviction sweep, every idle timeout/4 from the sweep
// goroutine. A service picked since the previous sweep counts as in use
// from now; one not picked for the idle timeout since is evicted, unless
// something pins it (see [WithIdleTimeout]). evictIdle waits for the
// evicted watches to end. It does nothing once the resolver is closed.
func (r *Resolver) evictIdle() {
	// Holding r.mu keeps start from making a new state for a name until
	// the old one's goroutine has ended and its series are deleted, so
	// that the old goroutine cannot write into the new state's series.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	now := time.Now()
	index := r.services.Load()
	var evicted []*serviceState
	for _, st := range index.all {
		if st.picked.Load() {
			st.picked.Store(false)
			st.idleSince = now
			continue
		}
		if now.Sub(st.idleSince) >= r.idleTimeout && st.tryEvict() {
			evicted = append(evicted, st)
		}
	}
	if len(evicted) == 0 {
		return
	}
	r.services.Store(index.without(evicted))
	for _, st := range evicted {
		st.cancel()
	}
	for _, st := range evicted {
		<-st.done
		st.mu.Lock()
		// Done of an endpoint that raced the eviction (see tryEvict)
		// finds no set to eject it from, so it records nothing.
		st.endpoints = nil
		st.mu.Unlock()
		r.emit(context.Background(), Event{Kind: EventEvicted, Service: st.name})
		r.logger.Debug("discovery: evicted idle service", "service", st.name)
	}
}

// tryEvict marks s evicted unless a Pick is waiting on it, one of its
// endpoints has a request in flight, or it serves a last known set while
// its registry is unreachable; the caller holds r.mu.
//
// A Pick raises an endpoint's in-flight count (or waiters) and then reads
// evicted; tryEvict sets evicted and then reads the counts. Atomics are
// sequentially consistent, so either the Pick sees evicted and starts over
// on a new state, or tryEvict sees the pin and backs off. The only endpoint
// it cannot see is one that left the set idle while a Pick still held the
// older snapshot with it; Done on it after the eviction stays harmless.
func (s *serviceState) tryEvict() bool {
	s.evicted.Store(true)
	if s.waiters.Load() == 0 && !s.pinned() {
		return true
	}
	s.evicted.Store(false)
	return false
}

// pinned reports whether s has requests in flight or a last known set it
// serves because its registry is unreachable.
func (s *serviceState) pinned() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stale && len(s.ordered) > 0 {
		return true
	}
	if slices.ContainsFunc(s.ordered, busy) {
		return true
	}
	s.retired = slices.DeleteFunc(s.retired, idle)
	return len(s.retired) > 0
}

func busy(ep *Endpoint) bool { return ep.inflight.Load() > 0 }
func idle(ep *Endpoint) bool { return ep.inflight.Load() <= 0 }

// without returns a copy of x without the states in gone.
func (x *serviceIndex) without(gone []*serviceState) *serviceIndex {
	next := &serviceIndex{all: make(map[string]*serviceState, len(x.all))}
	for k, v := range x.all {
		next.all[k] = v
	}
	for _, st := range gone {
		delete(next.all, st.name)
	}
	if len(next.all) == 1 {
		for _, st := range next.all {
			next.only = st
		}
	}
	return next
}
