package discovery

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Memory is the process-local registry: the embedded default for a service
// mesh that runs in one process, and the reference implementation of
// [Registry] that tests use. With a TTL, an instance is healthy only while it
// heartbeats; [Announce] does that. Memory is safe for concurrent use.
type Memory struct {
	ttl        time.Duration
	sweepEvery time.Duration

	mu      sync.Mutex
	entries map[string]*memoryEntry // by instance ID
	changed chan struct{}           // closed and replaced on every change
	closed  bool

	stop chan struct{}
	done chan struct{}
}

type memoryEntry struct {
	instance Instance
	lastBeat time.Time
	healthy  bool
}

// MemoryOption configures a Memory registry.
type MemoryOption func(*Memory) error

// WithTTL makes instances expire when they have not registered or
// heartbeated for ttl. Zero, the default, means instances never expire.
func WithTTL(ttl time.Duration) MemoryOption {
	return func(m *Memory) error {
		if ttl < 0 {
			return fmt.Errorf("%w: negative TTL %v", ErrInvalidOption, ttl)
		}
		m.ttl = ttl
		return nil
	}
}

// WithSweepInterval sets how often a background goroutine expires instances
// whose TTL has passed and wakes the watchers of their services; calls that
// read the registry expire them too. Zero means a quarter of the TTL; a
// negative interval is invalid.
func WithSweepInterval(d time.Duration) MemoryOption {
	return func(m *Memory) error {
		if d < 0 {
			return fmt.Errorf("%w: negative sweep interval %v", ErrInvalidOption, d)
		}
		m.sweepEvery = d
		return nil
	}
}

// NewMemory returns an empty in-memory registry. When a TTL is set it starts
// a sweeper goroutine that Close stops.
func NewMemory(opts ...MemoryOption) (*Memory, error) {
	m := &Memory{
		entries: make(map[string]*memoryEntry),
		changed: make(chan struct{}),
	}
	for _, opt := range opts {
		if opt == nil {
			continue // a nil Option is no option
		}
		if err := opt(m); err != nil {
			return nil, fmt.Errorf("discovery: new memory registry: %w", err)
		}
	}
	if m.sweepEvery == 0 {
		m.sweepEvery = max(m.ttl/4, 1)
	}
	if m.ttl > 0 {
		m.stop = make(chan struct{})
		m.done = make(chan struct{})
		go m.sweepLoop()
	}
	return m, nil
}

func (m *Memory) sweepLoop() {
	defer close(m.done)
	t := time.NewTicker(m.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

// Register adds or replaces the instance and counts as a heartbeat.
func (m *Memory) Register(_ context.Context, in Instance) error {
	if err := in.Validate(); err != nil {
		return fmt.Errorf("discovery: register: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("discovery: register: %w", ErrClosed)
	}
	e, ok := m.entries[in.ID]
	changed := !ok || !e.healthy || !e.instance.Equal(in)
	if !ok {
		e = &memoryEntry{}
		m.entries[in.ID] = e
	}
	if ok && e.instance.Service != in.Service {
		changed = true
	}
	e.instance = in.Clone()
	e.lastBeat = time.Now()
	e.healthy = true
	if changed {
		m.broadcastLocked()
	}
	return nil
}

// Deregister removes the instance; an unknown ID is not an error.
func (m *Memory) Deregister(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("discovery: deregister: %w", ErrClosed)
	}
	if _, ok := m.entries[id]; ok {
		delete(m.entries, id)
		m.broadcastLocked()
	}
	return nil
}

// Heartbeat marks the instance healthy for another TTL.
func (m *Memory) Heartbeat(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("discovery: heartbeat: %w", ErrClosed)
	}
	e, ok := m.entries[id]
	if !ok {
		return fmt.Errorf("discovery: heartbeat %q: %w", id, ErrNotFound)
	}
	e.lastBeat = time.Now()
	if !e.healthy {
		e.healthy = true
		m.broadcastLocked()
	}
	return nil
}

// HeartbeatInterval returns a third of the TTL, or zero without a TTL.
func (m *Memory) HeartbeatInterval() time.Duration { return m.ttl / 3 }

// Registered reports whether the registry holds the instance with this
// ID, healthy or not.
func (m *Memory) Registered(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, fmt.Errorf("discovery: registered: %w", ErrClosed)
	}
	_, ok := m.entries[id]
	return ok, nil
}

// Instances returns the healthy instances of service sorted by ID.
func (m *Memory) Instances(_ context.Context, service string) ([]Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("discovery: instances: %w", ErrClosed)
	}
	m.sweepLocked()
	return m.setLocked(service), nil
}

// Services returns the names of the services with a registered instance,
// healthy or expired, sorted.
func (m *Memory) Services(_ context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("discovery: services: %w", ErrClosed)
	}
	names := make([]string, 0, len(m.entries))
	for _, e := range m.entries {
		names = append(names, e.instance.Service)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// sweep marks instances whose TTL has passed as unhealthy and wakes
// watchers; the sweeper goroutine calls it.
func (m *Memory) sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.sweepLocked()
	}
}

func (m *Memory) sweepLocked() {
	if m.ttl <= 0 {
		return
	}
	now := time.Now()
	changed := false
	for _, e := range m.entries {
		if e.healthy && now.Sub(e.lastBeat) >= m.ttl {
			e.healthy = false
			changed = true
		}
	}
	if changed {
		m.broadcastLocked()
	}
}

func (m *Memory) broadcastLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// setLocked returns a fresh sorted copy of the healthy set of service.
func (m *Memory) setLocked(service string) []Instance {
	out := []Instance{}
	for _, e := range m.entries {
		if e.healthy && e.instance.Service == service {
			out = append(out, e.instance.Clone())
		}
	}
	SortInstances(out)
	return out
}

// Watch returns a Watcher of the healthy set of service.
func (m *Memory) Watch(_ context.Context, service string) (Watcher, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("discovery: watch: %w", ErrClosed)
	}
	return &memoryWatcher{m: m, service: service, closed: make(chan struct{})}, nil
}

// Close wakes every watcher with ErrClosed, makes further calls fail, and
// stops the sweeper goroutine, waiting for it until ctx ends (then it
// returns an error wrapping ctx's). It is idempotent and safe to call
// concurrently.
func (m *Memory) Close(ctx context.Context) error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		m.broadcastLocked()
		if m.stop != nil {
			close(m.stop)
		}
	}
	m.mu.Unlock()
	if m.done == nil {
		return nil
	}
	return awaitClosed(ctx, m.done, "memory registry")
}

// memoryWatcher is one stream over a Memory registry. Next must not be
// called concurrently with itself; Close may be called at any time.
type memoryWatcher struct {
	m       *Memory
	service string
	started bool
	last    []Instance

	closeOnce sync.Once
	closed    chan struct{}
}

func (w *memoryWatcher) Next(ctx context.Context) ([]Instance, error) {
	for {
		select {
		case <-w.closed:
			return nil, fmt.Errorf("discovery: watch %s: %w", w.service, ErrClosed)
		default:
		}
		w.m.mu.Lock()
		if w.m.closed {
			w.m.mu.Unlock()
			return nil, fmt.Errorf("discovery: watch %s: %w", w.service, ErrClosed)
		}
		w.m.sweepLocked()
		set := w.m.setLocked(w.service)
		changed := w.m.changed
		w.m.mu.Unlock()
		if !w.started || !EqualSets(set, w.last) {
			w.started = true
			w.last = set
			return CloneInstances(set), nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("discovery: watch %s: %w", w.service, ctx.Err())
		case <-w.closed:
		case <-changed:
		}
	}
}

func (w *memoryWatcher) Close() error {
	w.closeOnce.Do(func() { close(w.closed) })
	return nil
}
