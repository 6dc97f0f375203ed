package discovery

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// snapshot is an immutable view of one service that Pick reads without locks.
type snapshot struct {
	all      []*Endpoint // every instance the registry reported, by ID
	active   []*Endpoint // those not ejected; all when every one is
	reviewAt time.Time   // earliest end of an ejection; zero when none
}

// serviceState is the resolver's state for one service: the watch goroutine
// writes snapshots, Pick reads them.
type serviceState struct {
	r        *Resolver
	name     string
	cancel   context.CancelFunc // ends the watch goroutine
	balancer Balancer
	snap     atomic.Pointer[snapshot]
	ready    chan struct{} // closed at the first answer, set or error
	done     chan struct{} // closed when the watch goroutine has returned

	// Idle eviction (see evict.go). picked and evicted are read by every
	// Pick and written rarely; waiters counts Picks waiting for the first
	// answer, which pin the service as requests in flight do.
	picked    atomic.Bool
	evicted   atomic.Bool
	waiters   atomic.Int64
	idleSince time.Time // last sweep that found picked set, or the start; guarded by r.mu

	mu        sync.Mutex
	endpoints map[string]*Endpoint // current set by ID; nil once evicted
	ordered   []*Endpoint          // current set sorted by ID
	retired   []*Endpoint          // dropped from the set with requests in flight
	lastErr   error
	stale     bool
	readyOnce sync.Once

	// guard holds back suspect answers (see PanicPolicy); graceTimer ends
	// a hold when no Pick or answer comes to do it.
	guard      *PanicGuard
	graceTimer *time.Timer
}

// wait blocks until the first answer of the registry. It fails with
// errEvicted when an eviction of s began first: the caller starts over.
func (s *serviceState) wait(ctx context.Context) (*snapshot, error) {
	s.waiters.Add(1)
	defer s.waiters.Add(-1)
	if s.evicted.Load() {
		return nil, errEvicted
	}
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("discovery: resolve %q: %w", s.name, ctx.Err())
	case <-s.ready:
	}
	if snap := s.snap.Load(); snap != nil {
		return snap, nil
	}
	s.mu.Lock()
	err := s.lastErr
	s.mu.Unlock()
	if err == nil {
		err = errNotYet
	}
	return nil, fmt.Errorf("discovery: resolve %q: %w: %w", s.name, ErrNoInstances, err)
}

func (s *serviceState) noInstances() error {
	return fmt.Errorf("discovery: resolve %q: %w", s.name, ErrNoInstances)
}

// watchLoop follows the registry's Watch until ctx ends.
func (s *serviceState) watchLoop(ctx context.Context) {
	defer s.r.wg.Done()
	defer close(s.done) // after the loop has closed its watcher
	defer s.stopGrace()
	defer s.endWaits()
	loop := WatchLoop{
		Instancer: s.r.reg,
		Service:   s.name,
		Backoff:   s.r.watchBackoff(),
		Update: func(set []Instance) error {
			s.update(set)
			return nil
		},
		Failed: s.failed,
	}
	if err := loop.Run(ctx); err != nil {
		s.failed(err) // NewResolver checked the backoff: not reached
	}
}

// watchBackoff paces a service's watch after failures: WithWatchBackoff's
// bounds, doubling, with equal jitter, so that resolvers that lost the
// registry together do not all call it again at once, nor sooner than
// half the delay.
func (r *Resolver) watchBackoff() retry.Backoff {
	return retry.Backoff{Initial: r.minBackoff, Max: r.maxBackoff, Multiplier: 2, Jitter: retry.EqualJitter}
}

// endWaits releases the Picks still waiting for a first answer when the
// watch ends without one: the resolver was closed under them.
func (s *serviceState) endWaits() {
	s.readyOnce.Do(func() {
		s.mu.Lock()
		s.lastErr = ErrClosed
		s.mu.Unlock()
		close(s.ready)
	})
}

func (s *serviceState) failed(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.stale = s.snap.Load() != nil
	stale := s.stale
	s.mu.Unlock()
	s.r.emit(context.Background(), Event{Kind: EventWatchFailed, Service: s.name, Stale: stale, Err: err})
	s.r.logger.Warn("discovery: watch failed; serving the last known set", "service", s.name,
		"stale", stale, "err", err)
	s.readyOnce.Do(func() { close(s.ready) })
}

// update takes a new complete set from the registry: at once, or, when
// the panic guard finds it suspect, after the grace period, serving the
// last accepted set (with the new answer's instances) meanwhile.
func (s *serviceState) update(set []Instance) {
	s.mu.Lock()
	now := time.Now()
	wasHeld := !s.guard.HeldUntil().IsZero()
	serve, until := s.guard.Admit(set, now)
	held := !until.IsZero()
	switch {
	case held && !wasHeld:
		s.graceTimer = time.AfterFunc(max(until.Sub(now), 0), func() { s.review() })
	case !held:
		s.stopGraceLocked()
	}
	s.installLocked(serve)
	s.lastErr = nil
	s.stale = held
	s.publishLocked(now)
	s.mu.Unlock()
	switch {
	case !held:
		s.r.emit(context.Background(), Event{Kind: EventUpdated, Service: s.name, Instances: len(set)})
	case !wasHeld:
		s.r.logger.Warn("discovery: suspect answer from the registry; serving the last known set until the grace period ends",
			"service", s.name, "instances", len(set), "serving", len(serve), "until", until)
		fallthrough
	default:
		s.r.emit(context.Background(), Event{Kind: EventHeld, Service: s.name, Instances: len(serve), Stale: true})
	}
	s.readyOnce.Do(func() { close(s.ready) })
}

// stopGraceLocked stops the grace timer, if any.
func (s *serviceState) stopGraceLocked() {
	if s.graceTimer != nil {
		s.graceTimer.Stop()
		s.graceTimer = nil
	}
}

// stopGrace stops the grace timer; called when the watch ends.
func (s *serviceState) stopGrace() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopGraceLocked()
}

// installLocked makes set the served set, keeping the in-flight counts and
// ejection state of instances that stay.
func (s *serviceState) installLocked(set []Instance) {
	if s.endpoints == nil {
		return // evicted
	}
	next := make(map[string]*Endpoint, len(set))
	ordered := make([]*Endpoint, 0, len(set))
	for _, in := range set {
		ep := s.endpoints[in.ID]
		if ep == nil || !ep.instance.Equal(in) {
			ep = newEndpoint(s, in)
		}
		next[in.ID] = ep
		ordered = append(ordered, ep)
	}
	// Endpoints leaving the set with requests in flight still pin the
	// service against eviction until their Done.
	s.retired = slices.DeleteFunc(s.retired, idle)
	for id, ep := range s.endpoints {
		if next[id] != ep && !idle(ep) {
			s.retired = append(s.retired, ep)
		}
	}
	s.endpoints = next
	s.ordered = ordered
}

// review republishes the snapshot once an ejection or the grace period of
// a held answer has ended.
func (s *serviceState) review() *snapshot {
	s.mu.Lock()
	now := time.Now()
	snap := s.snap.Load()
	if snap == nil || snap.reviewAt.IsZero() || now.Before(snap.reviewAt) {
		s.mu.Unlock()
		return snap // another goroutine got here first
	}
	accepted := -1
	if set, ok := s.guard.Expire(now); ok {
		accepted = len(set)
		s.installLocked(set)
		s.stale = false
		s.stopGraceLocked()
	}
	snap = s.publishLocked(now)
	s.mu.Unlock()
	if accepted >= 0 {
		s.r.logger.Warn("discovery: grace period over; taking the registry's answer", "service", s.name,
			"instances", accepted)
		s.r.emit(context.Background(), Event{Kind: EventUpdated, Service: s.name, Instances: accepted})
	}
	return snap
}

// publishLocked builds and stores a snapshot of the current set at now.
func (s *serviceState) publishLocked(now time.Time) *snapshot {
	snap := &snapshot{all: s.ordered, active: s.ordered}
	var active []*Endpoint
	for i, ep := range s.ordered {
		if ep.isEjected(now) {
			if active == nil {
				active = append(make([]*Endpoint, 0, len(s.ordered)), s.ordered[:i]...)
			}
			if snap.reviewAt.IsZero() || ep.ejectedUntil.Before(snap.reviewAt) {
				snap.reviewAt = ep.ejectedUntil
			}
			continue
		}
		if active != nil {
			active = append(active, ep)
		}
	}
	if len(active) > 0 {
		snap.active = active
	}
	if until := s.guard.HeldUntil(); !until.IsZero() && (snap.reviewAt.IsZero() || until.Before(snap.reviewAt)) {
		snap.reviewAt = until
	}
	s.snap.Store(snap)
	return snap
}
