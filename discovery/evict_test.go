package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/internal/testclock"
)

const idle = time.Minute

// watchCounter is a real registry that counts the watches open on it: a
// resolver holds one per service it follows, in that service's goroutine.
type watchCounter struct {
	discovery.Registry
	open    atomic.Int64
	started atomic.Int64
}

func (c *watchCounter) Watch(ctx context.Context, service string) (discovery.Watcher, error) {
	w, err := c.Registry.Watch(ctx, service)
	if err != nil {
		return nil, err
	}
	c.open.Add(1)
	c.started.Add(1)
	return &countedWatcher{Watcher: w, c: c}, nil
}

type countedWatcher struct {
	discovery.Watcher
	c    *watchCounter
	once sync.Once
}

func (w *countedWatcher) Close() error {
	w.once.Do(func() { w.c.open.Add(-1) })
	return w.Watcher.Close()
}

// evictionSetup is a resolver with a one-minute idle timeout on a manual
// clock, over a memory registry holding svc-a, with a listener.
type evictionSetup struct {
	clock  *testclock.Clock
	mem    *discovery.Memory
	reg    *watchCounter
	r      *discovery.Resolver
	events *events
}

func newEvictionSetup(t *testing.T, opts ...discovery.ResolverOption) *evictionSetup {
	t.Helper()
	s := &evictionSetup{clock: testclock.New(), events: &events{}}
	s.mem = memoryWith(t, nil, inst("svc", 0))
	s.reg = &watchCounter{Registry: s.mem}
	opts = append([]discovery.ResolverOption{discovery.WithClock(s.clock), discovery.WithIdleTimeout(idle),
		discovery.WithListener(s.events)}, opts...)
	s.r = newResolver(t, s.reg, opts...)
	return s
}

func (s *evictionSetup) evict(t *testing.T, want int) {
	t.Helper()
	if got := s.r.EvictIdle(); got != want {
		t.Fatalf("EvictIdle evicted %d services, want %d (following %v)", got, want, s.r.Services())
	}
}

func TestResolverEvictsIdleService(t *testing.T) {
	s := newEvictionSetup(t)
	if id := pickID(t, s.r, "svc"); id != "svc-a" {
		t.Fatalf("picked %s", id)
	}
	if got := s.r.Services(); !slices.Equal(got, []string{"svc"}) || s.reg.open.Load() != 1 {
		t.Fatalf("services %v, open watches %d", got, s.reg.open.Load())
	}
	if e, ok := s.events.served("svc"); !ok || e.Kind != discovery.EventUpdated || e.Instances != 1 {
		t.Fatalf("last event after the first pick: %+v, %v", e, ok)
	}

	s.clock.Advance(idle - time.Nanosecond)
	s.evict(t, 0)
	s.clock.Advance(time.Nanosecond)
	s.evict(t, 1)

	if got := s.r.Services(); len(got) != 0 {
		t.Fatalf("services after eviction: %v", got)
	}
	if n := s.reg.open.Load(); n != 0 {
		t.Fatalf("%d watches still open after eviction", n)
	}
	if st := s.r.Status("svc"); len(st.Instances) != 0 || st.Stale || st.LastError != nil {
		t.Fatalf("status of an evicted service: %+v", st)
	}
	if e, _ := s.events.last("svc"); e.Kind != discovery.EventEvicted || s.events.count(discovery.EventEvicted, "svc") != 1 {
		t.Fatalf("last event of the evicted service: %+v", e)
	}

	// The next Pick starts the service afresh.
	if id := pickID(t, s.r, "svc"); id != "svc-a" {
		t.Fatalf("picked %s after eviction", id)
	}
	if s.reg.open.Load() != 1 || s.reg.started.Load() != 2 {
		t.Fatalf("open %d, started %d watches after the pick that follows eviction", s.reg.open.Load(), s.reg.started.Load())
	}
	if e, _ := s.events.last("svc"); e.Kind != discovery.EventUpdated || e.Instances != 1 {
		t.Fatalf("last event after the service came back: %+v", e)
	}
}

func TestResolverKeepsPickedService(t *testing.T) {
	s := newEvictionSetup(t)
	pickID(t, s.r, "svc")
	s.clock.Advance(idle / 2)
	pickID(t, s.r, "svc")
	s.clock.Advance(idle / 2)
	// Picked since the service started: in use from now on.
	s.evict(t, 0)
	s.clock.Advance(idle - time.Nanosecond)
	s.evict(t, 0)
	s.clock.Advance(time.Nanosecond)
	s.evict(t, 1)
}

func TestResolverKeepsServiceWithRequestsInFlight(t *testing.T) {
	s := newEvictionSetup(t)
	ep := must[*discovery.Endpoint](t)(s.r.Pick(context.Background(), "svc"))
	for range 3 {
		s.clock.Advance(2 * idle)
		s.evict(t, 0)
	}
	if s.reg.open.Load() != 1 {
		t.Fatal("the watch of a service with a request in flight ended")
	}
	ep.Done(nil)
	if ep.InFlight() != 0 {
		t.Fatalf("in flight %d after Done", ep.InFlight())
	}
	s.evict(t, 1)
}

func TestResolverKeepsServiceWithRequestsInFlightOnARemovedInstance(t *testing.T) {
	ctx := context.Background()
	s := newEvictionSetup(t)
	ep := must[*discovery.Endpoint](t)(s.r.Pick(ctx, "svc"))
	if err := s.mem.Register(ctx, inst("svc", 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.mem.Deregister(ctx, "svc-a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "svc-a to leave the set", func() bool {
		return slices.Equal(ids(s.r.Status("svc").Instances), []string{"svc-b"})
	})
	s.clock.Advance(2 * idle)
	s.evict(t, 0) // the pick marked it in use
	s.clock.Advance(2 * idle)
	s.evict(t, 0) // svc-a's request still pins it
	ep.Done(nil)
	s.evict(t, 1)
}

func TestResolverKeepsPickWaitingForFirstAnswer(t *testing.T) {
	mem := memoryWith(t, nil, inst("svc", 0))
	gate := &gatedRegistry{Registry: mem, open: make(chan struct{})}
	reg := &watchCounter{Registry: gate}
	clock := testclock.New()
	r := newResolver(t, reg, discovery.WithClock(clock), discovery.WithIdleTimeout(idle))

	picked := make(chan string, 1)
	go func() {
		ep, err := r.Pick(context.Background(), "svc")
		if err != nil {
			picked <- err.Error()
			return
		}
		ep.Done(nil)
		picked <- ep.Instance().ID
	}()
	// Until the Pick waits on the service, an eviction may end its state
	// (the Pick then starts over); once it waits, nothing evicts it.
	waitFor(t, "the pick to pin its service", func() bool {
		clock.Advance(2 * idle)
		return r.EvictIdle() == 0 && len(r.Services()) == 1
	})
	for range 3 {
		clock.Advance(2 * idle)
		if n := r.EvictIdle(); n != 0 {
			t.Fatalf("evicted %d services while a pick waits", n)
		}
	}
	close(gate.open)
	if got := <-picked; got != "svc-a" {
		t.Fatalf("waiting pick got %s", got)
	}
	if n := reg.open.Load(); n != 1 {
		t.Fatalf("%d watches open, want 1", n)
	}
}

// gatedRegistry is a registry whose watchers answer only once open is
// closed: a registry that is slow to give its first answer.
type gatedRegistry struct {
	discovery.Registry
	open chan struct{}
}

func (g *gatedRegistry) Watch(ctx context.Context, service string) (discovery.Watcher, error) {
	w, err := g.Registry.Watch(ctx, service)
	if err != nil {
		return nil, err
	}
	return gatedWatcher{Watcher: w, open: g.open}, nil
}

type gatedWatcher struct {
	discovery.Watcher
	open chan struct{}
}

func (w gatedWatcher) Next(ctx context.Context) ([]discovery.Instance, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-w.open:
	}
	return w.Watcher.Next(ctx)
}

func TestResolverKeepsLastKnownSetWhileRegistryIsDown(t *testing.T) {
	s := newEvictionSetup(t, discovery.WithWatchBackoff(time.Millisecond, time.Millisecond))
	pickID(t, s.r, "svc")
	_ = s.mem.Close()
	waitFor(t, "the resolver to notice", func() bool { return s.r.Status("svc").Stale })
	s.clock.Advance(10 * idle)
	s.evict(t, 0)
	if id := pickID(t, s.r, "svc"); id != "svc-a" {
		t.Fatalf("picked %s from the last known set", id)
	}
}

func TestResolverEvictionBoundsUnknownNames(t *testing.T) {
	const names = 1000
	s := newEvictionSetup(t)
	for i := range names {
		name := fmt.Sprint("unknown-", i)
		if _, err := s.r.Pick(context.Background(), name); !errors.Is(err, discovery.ErrNoInstances) {
			t.Fatalf("Pick(%s): %v", name, err)
		}
	}
	if got := len(s.r.Services()); got != names || s.reg.open.Load() != names {
		t.Fatalf("following %d services with %d watches, want %d", got, s.reg.open.Load(), names)
	}
	if _, ok := s.events.served("unknown-999"); !ok {
		t.Fatal("no event for an unknown name")
	}
	s.clock.Advance(idle)
	s.evict(t, names)
	if got := len(s.r.Services()); got != 0 || s.reg.open.Load() != 0 {
		t.Fatalf("following %d services with %d watches after eviction", got, s.reg.open.Load())
	}
	if following := s.events.following(); len(following) != 0 {
		t.Fatalf("%d services not reported evicted, first %s", len(following), following[0])
	}
}

func TestResolverIdleEvictionOff(t *testing.T) {
	s := newEvictionSetup(t, discovery.WithIdleTimeout(-1))
	pickID(t, s.r, "svc")
	s.clock.Advance(1000 * idle)
	s.evict(t, 0)
	if got := s.r.Services(); !slices.Equal(got, []string{"svc"}) {
		t.Fatalf("services %v", got)
	}
}

func TestResolverSweepGoroutineEvicts(t *testing.T) {
	s := newEvictionSetup(t, discovery.WithIdleTimeout(time.Second))
	pickID(t, s.r, "svc")
	s.clock.Advance(time.Hour)
	// The sweep ticks every 250ms of real time and reads the manual clock.
	// Services drops svc before the sweep has waited for its watch to end,
	// so wait for both.
	waitFor(t, "the sweep goroutine to evict svc", func() bool {
		return len(s.r.Services()) == 0 && s.reg.open.Load() == 0
	})
}

func TestResolverCloseDuringEviction(t *testing.T) {
	s := newEvictionSetup(t)
	for i := range 50 {
		pickID(t, s.r, "svc")
		_, _ = s.r.Pick(context.Background(), fmt.Sprint("unknown-", i))
	}
	s.clock.Advance(2 * idle)
	var wg sync.WaitGroup
	wg.Go(func() { s.r.EvictIdle() })
	wg.Go(func() {
		if err := s.r.Close(); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	if n := s.reg.open.Load(); n != 0 {
		t.Fatalf("%d watches open after Close", n)
	}
	s.clock.Advance(2 * idle)
	s.evict(t, 0)
}

// TestResolverConcurrentPicksAndEvictions races Picks of a few services
// against sweeps that find them idle: every pick must get an instance of
// its service, no service may go while a request is in flight, and no watch
// may outlive Close.
func TestResolverConcurrentPicksAndEvictions(t *testing.T) {
	ctx := context.Background()
	mem := memoryWith(t, nil, inst("a", 0), inst("a", 1), inst("b", 0), inst("c", 0))
	reg := &watchCounter{Registry: mem}
	clock := testclock.New()
	r := must[*discovery.Resolver](t)(discovery.NewResolver(reg, discovery.WithClock(clock),
		discovery.WithIdleTimeout(time.Second), discovery.WithLogger(quietLogger),
		discovery.WithOutlierEjection(discovery.OutlierPolicy{ConsecutiveFailures: 1})))
	stop := make(chan struct{})
	var evictions atomic.Int64
	var sweeper sync.WaitGroup
	sweeper.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			clock.Advance(time.Second)
			evictions.Add(int64(r.EvictIdle()))
		}
	})
	var pickers sync.WaitGroup
	for g := range 4 {
		pickers.Go(func() {
			for i := range 300 {
				service := []string{"a", "b", "c"}[(g+i)%3]
				ep, err := r.Pick(ctx, service)
				if err != nil {
					t.Errorf("Pick(%s): %v", service, err)
					return
				}
				if ep.Instance().Service != service {
					t.Errorf("Pick(%s) gave %s", service, ep.Instance().ID)
				}
				// The request in flight pins its service.
				if !slices.Contains(r.Services(), service) {
					t.Errorf("%s evicted with a request in flight", service)
				}
				if i%7 == 0 {
					ep.Done(errors.New("failed"))
				} else {
					ep.Done(nil)
				}
			}
		})
	}
	pickers.Wait()
	close(stop)
	sweeper.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n := reg.open.Load(); n != 0 {
		t.Fatalf("%d watches open after Close", n)
	}
	t.Logf("%d evictions, %d watches started", evictions.Load(), reg.started.Load())
}
