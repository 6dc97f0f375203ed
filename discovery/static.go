package discovery

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Static is a fixed, read-only registry: the instances given at construction,
// all healthy, forever. Use it for development, for tests, and for
// deployments where addresses come from configuration (see [ParseStatic]).
// It is an [Instancer] only: having no writes, it is no [Registrar]. Static
// is safe for concurrent use.
type Static struct {
	byService map[string][]Instance

	mu        sync.Mutex
	closed    bool
	closedCh  chan struct{}
	closeOnce sync.Once
}

// NewStatic returns a registry of the given instances. Every instance must be
// valid and IDs must be unique.
func NewStatic(instances []Instance) (*Static, error) {
	s := &Static{byService: make(map[string][]Instance), closedCh: make(chan struct{})}
	seen := make(map[string]bool, len(instances))
	for _, in := range instances {
		if err := in.Validate(); err != nil {
			return nil, fmt.Errorf("discovery: new static registry: %w", err)
		}
		if seen[in.ID] {
			return nil, fmt.Errorf("discovery: new static registry: %w: duplicate ID %q", ErrInvalidInstance, in.ID)
		}
		seen[in.ID] = true
		s.byService[in.Service] = append(s.byService[in.Service], in.Clone())
	}
	for _, set := range s.byService {
		SortInstances(set)
	}
	return s, nil
}

// StaticFromEnv returns a static registry from the environment variable
// name, in the format of [ParseStatic]. An unset or empty variable gives an
// empty registry.
func StaticFromEnv(name string) (*Static, error) {
	instances, err := ParseStatic(os.Getenv(name))
	if err != nil {
		return nil, fmt.Errorf("discovery: static registry from $%s: %w", name, err)
	}
	return NewStatic(instances)
}

// ParseStatic parses a list of services and their addresses:
//
//	product-service=10.0.0.1:8080,10.0.0.2:8080*3; user-service=[::1]:9000
//
// Services are separated by semicolons or newlines, addresses by commas, and
// an optional "*N" after an address gives it weight N. Each instance's ID is
// "service@host:port".
func ParseStatic(spec string) ([]Instance, error) {
	var out []Instance
	seen := make(map[string]bool)
	for entry := range strings.FieldsFuncSeq(spec, func(r rune) bool { return r == ';' || r == '\n' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		service, addrs, ok := strings.Cut(entry, "=")
		service = strings.TrimSpace(service)
		if !ok || service == "" || strings.ContainsAny(service, " \t,*") {
			return nil, fmt.Errorf("discovery: parse static: %w: entry %q: want service=host:port[,host:port]", ErrInvalidInstance, entry)
		}
		for addr := range strings.SplitSeq(addrs, ",") {
			in, err := parseStaticAddr(service, strings.TrimSpace(addr))
			if err != nil {
				return nil, fmt.Errorf("discovery: parse static: %w", err)
			}
			if seen[in.ID] {
				return nil, fmt.Errorf("discovery: parse static: %w: duplicate %q", ErrInvalidInstance, in.ID)
			}
			seen[in.ID] = true
			out = append(out, in)
		}
	}
	return out, nil
}

func parseStaticAddr(service, addr string) (Instance, error) {
	weight := 0
	if a, w, ok := strings.Cut(addr, "*"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 1 {
			return Instance{}, fmt.Errorf("%w: %s: bad weight in %q", ErrInvalidInstance, service, addr)
		}
		addr, weight = strings.TrimSpace(a), n
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return Instance{}, fmt.Errorf("%w: %s: %v", ErrInvalidInstance, service, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return Instance{}, fmt.Errorf("%w: %s: bad port in %q", ErrInvalidInstance, service, addr)
	}
	in := Instance{Service: service, Address: host, Port: port, Weight: weight}
	in.ID = service + "@" + in.Addr()
	if err := in.Validate(); err != nil {
		return Instance{}, err
	}
	return in, nil
}

// Instances returns the instances of service sorted by ID.
func (s *Static) Instances(_ context.Context, service string) ([]Instance, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("discovery: instances: %w", ErrClosed)
	}
	return CloneInstances(s.byService[service]), nil
}

// Services returns the names of the services of the list, sorted.
func (s *Static) Services(_ context.Context) ([]string, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("discovery: services: %w", ErrClosed)
	}
	return slices.Sorted(maps.Keys(s.byService)), nil
}

// Watch returns a Watcher whose first Next returns the fixed set and whose
// later calls block until the context ends or the watcher closes.
func (s *Static) Watch(_ context.Context, service string) (Watcher, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("discovery: watch: %w", ErrClosed)
	}
	return &staticWatcher{s: s, set: s.byService[service], closed: make(chan struct{})}, nil
}

// Close makes further calls fail with ErrClosed and wakes watchers; it is
// idempotent. Static runs no goroutine, so Close never waits and ignores
// ctx, which it takes so that every registry closes alike.
func (s *Static) Close(_ context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.closedCh)
	})
	return nil
}

func (s *Static) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

type staticWatcher struct {
	s         *Static
	set       []Instance
	sent      bool
	closeOnce sync.Once
	closed    chan struct{}
}

func (w *staticWatcher) Next(ctx context.Context) ([]Instance, error) {
	select {
	case <-w.closed:
		return nil, fmt.Errorf("discovery: watch: %w", ErrClosed)
	case <-w.s.closedCh:
		return nil, fmt.Errorf("discovery: watch: %w", ErrClosed)
	default:
	}
	if !w.sent {
		w.sent = true
		return CloneInstances(w.set), nil
	}
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("discovery: watch: %w", ctx.Err())
	case <-w.closed:
	case <-w.s.closedCh:
	}
	return nil, fmt.Errorf("discovery: watch: %w", ErrClosed)
}

func (w *staticWatcher) Close() error {
	w.closeOnce.Do(func() { close(w.closed) })
	return nil
}
