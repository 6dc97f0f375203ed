package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/discovery"
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

// evictionSetup is a resolver with a one-minute idle timeout over a memory
// registry holding svc-a, with a listener. Tests build it in a
// testing/synctest bubble and pick at once, so the sweep runs at every
// quarter of idle on the bubble's clock, counted from the first Pick.
type evictionSetup struct {
	mem    *discovery.Memory
	reg    *watchCounter
	r      *discovery.Resolver
	events *events
}

func newEvictionSetup(t *testing.T, opts ...discovery.ResolverOption) *evictionSetup {
	t.Helper()
	s := &evictionSetup{events: &events{}}
	s.mem = memoryWith(t, nil, inst("svc", 0))
	s.reg = &watchCounter{Registry: s.mem}
	opts = append([]discovery.ResolverOption{discovery.WithIdleTimeout(idle),
		discovery.WithListener(s.events)}, opts...)
	s.r = newResolver(t, s.reg, opts...)
	return s
}

// expectFollowing fails unless the resolver follows exactly want.
func (s *evictionSetup) expectFollowing(t *testing.T, step string, want ...string) {
	t.Helper()
	if got := s.r.Services(); !slices.Equal(got, want) {
		t.Fatalf("%s: following %v, want %v", step, got, want)
	}
}

func TestResolverEvictsIdleService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
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

		advance(idle - time.Nanosecond)
		s.expectFollowing(t, "just before the idle timeout", "svc")
		advance(time.Nanosecond)
		s.expectFollowing(t, "at the idle timeout")

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
	})
}

// A service goes between the idle timeout and a quarter more after its
// last Pick: at the first sweep that finds it unpicked for the idle
// timeout since the sweep that saw the Pick.
func TestResolverKeepsPickedService(t *testing.T) {
	const sweep = idle / 4
	for _, tt := range []struct {
		name     string
		lastPick time.Duration // after the first
		evictAt  time.Duration
	}{
		{"picked once", 0, idle},
		{"picked again just after a sweep", sweep + time.Second, sweep*2 + idle},
		{"picked again just before a sweep", 2*sweep - time.Second, sweep*2 + idle},
		{"picked again at a sweep, after it", 2 * sweep, sweep*3 + idle},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newEvictionSetup(t)
				pickID(t, s.r, "svc")
				if tt.lastPick > 0 {
					advance(tt.lastPick)
					pickID(t, s.r, "svc")
				}
				advance(tt.evictAt - tt.lastPick - time.Nanosecond)
				s.expectFollowing(t, "just before it is due", "svc")
				advance(time.Nanosecond)
				s.expectFollowing(t, "when it is due")
				if gone := tt.evictAt - tt.lastPick; gone < idle || gone > idle+sweep {
					t.Fatalf("evicted %v after the last pick, want between %v and %v", gone, idle, idle+sweep)
				}
			})
		})
	}
}

func TestResolverKeepsServiceWithRequestsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newEvictionSetup(t)
		ep := must[*discovery.Endpoint](t)(s.r.Pick(context.Background(), "svc"))
		advance(10 * idle)
		s.expectFollowing(t, "with a request in flight", "svc")
		if s.reg.open.Load() != 1 {
			t.Fatal("the watch of a service with a request in flight ended")
		}
		ep.Done(nil)
		if ep.InFlight() != 0 {
			t.Fatalf("in flight %d after Done", ep.InFlight())
		}
		advance(idle / 4)
		s.expectFollowing(t, "at the first sweep after Done")
	})
}

func TestResolverKeepsServiceWithRequestsInFlightOnARemovedInstance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := newEvictionSetup(t)
		ep := must[*discovery.Endpoint](t)(s.r.Pick(ctx, "svc"))
		if err := s.mem.Register(ctx, inst("svc", 1)); err != nil {
			t.Fatal(err)
		}
		if err := s.mem.Deregister(ctx, "svc-a"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := ids(s.r.Status("svc").Instances); !slices.Equal(got, []string{"svc-b"}) {
			t.Fatalf("serving %v, want svc-b only", got)
		}
		advance(10 * idle)
		s.expectFollowing(t, "while svc-a's request is in flight", "svc")
		ep.Done(nil)
		advance(idle / 4)
		s.expectFollowing(t, "at the first sweep after Done")
	})
}

func TestResolverKeepsPickWaitingForFirstAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := memoryWith(t, nil, inst("svc", 0))
		gate := &gatedRegistry{Registry: mem, open: make(chan struct{})}
		reg := &watchCounter{Registry: gate}
		ev := &events{}
		r := newResolver(t, reg, discovery.WithIdleTimeout(idle), discovery.WithListener(ev))

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
		advance(10 * idle)
		if got := r.Services(); !slices.Equal(got, []string{"svc"}) || ev.count(discovery.EventEvicted, "svc") != 0 {
			t.Fatalf("following %v after %d evictions while a pick waits", got, ev.count(discovery.EventEvicted, "svc"))
		}
		close(gate.open)
		if got := <-picked; got != "svc-a" {
			t.Fatalf("waiting pick got %s", got)
		}
		if n := reg.open.Load(); n != 1 {
			t.Fatalf("%d watches open, want 1", n)
		}
	})
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
	synctest.Test(t, func(t *testing.T) {
		s := newEvictionSetup(t, discovery.WithWatchBackoff(time.Second, time.Second))
		pickID(t, s.r, "svc")
		_ = s.mem.Close(context.Background())
		synctest.Wait()
		if !s.r.Status("svc").Stale {
			t.Fatal("the resolver does not serve the set as stale once the registry is gone")
		}
		advance(10 * idle)
		s.expectFollowing(t, "with the registry down", "svc")
		if id := pickID(t, s.r, "svc"); id != "svc-a" {
			t.Fatalf("picked %s from the last known set", id)
		}
	})
}

func TestResolverEvictionBoundsUnknownNames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
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
		advance(idle)
		if got := len(s.r.Services()); got != 0 || s.reg.open.Load() != 0 {
			t.Fatalf("following %d services with %d watches after eviction", got, s.reg.open.Load())
		}
		if following := s.events.following(); len(following) != 0 {
			t.Fatalf("%d services not reported evicted, first %s", len(following), following[0])
		}
	})
}

func TestResolverIdleEvictionOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newEvictionSetup(t, discovery.WithIdleTimeout(-1))
		pickID(t, s.r, "svc")
		advance(1000 * idle)
		s.expectFollowing(t, "with eviction off", "svc")
	})
}

// Close at the very instant a sweep evicts: whichever goes first, no watch
// outlives Close and nothing is evicted after it.
func TestResolverCloseDuringEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newEvictionSetup(t)
		for i := range 50 {
			pickID(t, s.r, "svc")
			_, _ = s.r.Pick(context.Background(), fmt.Sprint("unknown-", i))
		}
		time.Sleep(idle) // wakes with the sweep that evicts them all
		if err := s.r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := s.reg.open.Load(); n != 0 {
			t.Fatalf("%d watches open after Close", n)
		}
		evicted := s.events.count(discovery.EventEvicted, "svc")
		advance(10 * idle)
		if n := s.events.count(discovery.EventEvicted, "svc"); n != evicted {
			t.Fatalf("%d evictions after Close", n-evicted)
		}
	})
}

// TestResolverConcurrentPicksAndEvictions races Picks of a few services
// against sweeps that find them idle: every pick must get an instance of
// its service, no service may go while a request is in flight, and no watch
// may outlive Close. The pickers pause together, long enough for every
// service to be evicted, and wake with a sweep.
func TestResolverConcurrentPicksAndEvictions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		mem := memoryWith(t, nil, inst("a", 0), inst("a", 1), inst("b", 0), inst("c", 0))
		reg := &watchCounter{Registry: mem}
		ev := &events{}
		r := must[*discovery.Resolver](t)(discovery.NewResolver(reg,
			discovery.WithIdleTimeout(time.Second), discovery.WithLogger(quietLogger), discovery.WithListener(ev),
			discovery.WithOutlierEjection(discovery.OutlierPolicy{ConsecutiveFailures: 1})))
		var pickers sync.WaitGroup
		for g := range 4 {
			pickers.Go(func() {
				for i := range 300 {
					if i%25 == 24 {
						time.Sleep(2 * time.Second)
					}
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
		if err := r.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if n := reg.open.Load(); n != 0 {
			t.Fatalf("%d watches open after Close", n)
		}
		evictions := 0
		for _, service := range []string{"a", "b", "c"} {
			evictions += ev.count(discovery.EventEvicted, service)
		}
		if evictions == 0 {
			t.Fatal("no service was evicted while the pickers paused")
		}
		t.Logf("%d evictions, %d watches started", evictions, reg.started.Load())
	})
}
