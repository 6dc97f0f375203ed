package discovery_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/discovery"
)

// countingRegistry is a real registry that counts Watch calls.
type countingRegistry struct {
	discovery.Registry
	watches atomic.Int64
}

func (c *countingRegistry) Watch(ctx context.Context, service string) (discovery.Watcher, error) {
	c.watches.Add(1)
	return c.Registry.Watch(ctx, service)
}

func newResolver(t testing.TB, reg discovery.Instancer, opts ...discovery.ResolverOption) *discovery.Resolver {
	t.Helper()
	opts = append([]discovery.ResolverOption{discovery.WithLogger(quietLogger)}, opts...)
	r := must[*discovery.Resolver](t)(discovery.NewResolver(reg, opts...))
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func pickID(t testing.TB, r *discovery.Resolver, service string) string {
	t.Helper()
	ep, err := r.Pick(context.Background(), service)
	if err != nil {
		t.Fatal(err)
	}
	ep.Done(nil)
	return ep.Instance().ID
}

func TestResolverFollowsTheRegistry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reg := memoryWith(t, nil, inst("svc", 0), inst("svc", 1))
		// Off: the empty set below is to be taken at once (see panic_test.go).
		r := newResolver(t, reg, discovery.WithBalancer(discovery.RoundRobin), discovery.WithPanicPolicy(discovery.PanicPolicy{Off: true}))

		var got []string
		for range 4 {
			got = append(got, pickID(t, r, "svc"))
		}
		if want := []string{"svc-a", "svc-b", "svc-a", "svc-b"}; !slices.Equal(got, want) {
			t.Fatalf("round robin picks %v, want %v", got, want)
		}

		if err := reg.Register(ctx, inst("svc", 2)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if len(r.Status("svc").Instances) != 3 {
			t.Fatalf("serving %v after svc-c registered", ids(r.Status("svc").Instances))
		}
		seen := map[string]bool{}
		for range 3 {
			seen[pickID(t, r, "svc")] = true
		}
		if len(seen) != 3 {
			t.Fatalf("picks after adding svc-c: %v", seen)
		}

		for _, id := range []string{"svc-a", "svc-b", "svc-c"} {
			if err := reg.Deregister(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if len(r.Status("svc").Instances) != 0 {
			t.Fatalf("serving %v after every instance left", ids(r.Status("svc").Instances))
		}
		if _, err := r.Pick(ctx, "svc"); !errors.Is(err, discovery.ErrNoInstances) {
			t.Fatalf("Pick of an empty service: %v", err)
		}
	})
}

func TestResolverKeepsInFlightAcrossUpdates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reg := memoryWith(t, nil, inst("svc", 0))
		r := newResolver(t, reg)
		ep := must[*discovery.Endpoint](t)(r.Pick(ctx, "svc"))
		if err := reg.Register(ctx, inst("svc", 1)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if len(r.Status("svc").Instances) != 2 {
			t.Fatalf("serving %v after svc-b registered", ids(r.Status("svc").Instances))
		}
		// svc-a kept its Endpoint, so its request in flight still counts and
		// the least-request balancer sends the next requests to svc-b.
		for range 20 {
			next := must[*discovery.Endpoint](t)(r.Pick(ctx, "svc"))
			if next == ep {
				t.Fatal("least-request picked the instance with a request in flight")
			}
			next.Done(nil)
		}
		ep.Done(nil)
	})
}

func TestResolverServesLastKnownSetWhenRegistryFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reg := memoryWith(t, nil, inst("svc", 0))
		ev := &events{}
		r := newResolver(t, reg, discovery.WithListener(ev), discovery.WithWatchBackoff(time.Millisecond, time.Millisecond))
		if id := pickID(t, r, "svc"); id != "svc-a" {
			t.Fatalf("picked %s", id)
		}
		if e, _ := ev.served("svc"); e.Kind != discovery.EventUpdated || e.Stale {
			t.Fatalf("last event before the failure: %+v", e)
		}

		_ = reg.Close(ctx) // the registry is gone: every watch call fails
		synctest.Wait()
		if !r.Status("svc").Stale {
			t.Fatalf("status %+v once the registry closed, want stale", r.Status("svc"))
		}
		st := r.Status("svc")
		if !errors.Is(st.LastError, discovery.ErrClosed) || len(st.Instances) != 1 {
			t.Fatalf("status %+v", st)
		}
		if id := pickID(t, r, "svc"); id != "svc-a" {
			t.Fatalf("picked %s from the last known set", id)
		}
		if e, _ := ev.served("svc"); e.Kind != discovery.EventWatchFailed || !e.Stale || !errors.Is(e.Err, discovery.ErrClosed) {
			t.Fatalf("last event with the registry down: %+v", e)
		}
		// A service never resolved before has no last known set.
		if _, err := r.Pick(ctx, "other"); !errors.Is(err, discovery.ErrNoInstances) || !errors.Is(err, discovery.ErrClosed) {
			t.Fatalf("Pick of a new service with the registry down: %v", err)
		}
	})
}

func TestResolverCoalescesConcurrentFirstLookups(t *testing.T) {
	reg := &countingRegistry{Registry: memoryWith(t, nil, inst("svc", 0))}
	r := newResolver(t, reg)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() { pickID(t, r, "svc") })
	}
	wg.Wait()
	if n := reg.watches.Load(); n != 1 {
		t.Fatalf("%d watches for one service, want 1", n)
	}
}

func TestResolverClose(t *testing.T) {
	ctx := context.Background()
	r := newResolver(t, memoryWith(t, nil, inst("svc", 0)))
	pickID(t, r, "svc")
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := r.Pick(ctx, "new"); !errors.Is(err, discovery.ErrClosed) {
		t.Fatalf("Pick of a new service after Close: %v", err)
	}
	if id := pickID(t, r, "svc"); id != "svc-a" {
		t.Fatalf("Pick of a known service after Close: %s", id)
	}
}

// deafRegistry is a registry whose watches ignore their context: Next
// returns only once released, as a call into a hung agent may.
type deafRegistry struct {
	discovery.Registry
	release chan struct{}
}

func (d deafRegistry) Watch(ctx context.Context, service string) (discovery.Watcher, error) {
	w, err := d.Registry.Watch(ctx, service)
	return deafWatcher{Watcher: w, release: d.release}, err
}

type deafWatcher struct {
	discovery.Watcher
	release chan struct{}
}

func (w deafWatcher) Next(ctx context.Context) ([]discovery.Instance, error) {
	<-w.release
	return w.Watcher.Next(ctx)
}

// Close waits for the watch goroutines only until its context ends; a
// later Close, once they have ended, reports a clean stop.
func TestResolverCloseHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := deafRegistry{Registry: memoryWith(t, nil, inst("svc", 0)), release: make(chan struct{})}
		r := newResolver(t, reg)
		picked := make(chan error, 1)
		go func() {
			_, err := r.Pick(context.Background(), "svc")
			picked <- err
		}()
		synctest.Wait() // the watch goroutine is stuck in Next

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := r.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close past its deadline: %v", err)
		}
		close(reg.release)
		if err := r.Close(context.Background()); err != nil {
			t.Fatalf("Close once the watch returned: %v", err)
		}
		// The Pick that waited for the registry's first answer is released.
		if err := <-picked; !errors.Is(err, discovery.ErrClosed) || !errors.Is(err, discovery.ErrNoInstances) {
			t.Fatalf("Pick waiting across Close: %v", err)
		}
	})
}

func TestResolverFirstPickHonoursContext(t *testing.T) {
	reg := memoryWith(t, nil)
	r := newResolver(t, &blockingRegistry{Registry: reg})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Pick(ctx, "svc"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Pick with a cancelled context: %v", err)
	}
}

// blockingRegistry is a registry whose watches never answer, like a
// registry behind a black-holed network.
type blockingRegistry struct{ discovery.Registry }

func (blockingRegistry) Watch(context.Context, string) (discovery.Watcher, error) {
	return blockingWatcher{}, nil
}

type blockingWatcher struct{}

func (blockingWatcher) Next(ctx context.Context) ([]discovery.Instance, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (blockingWatcher) Close() error { return nil }

func TestNewResolverValidatesOptions(t *testing.T) {
	reg := memoryWith(t, nil)
	for name, opt := range map[string]discovery.ResolverOption{
		"negative backoff":    discovery.WithWatchBackoff(-1, 0),
		"inverted backoff":    discovery.WithWatchBackoff(2, 1),
		"negative failures":   discovery.WithOutlierEjection(discovery.OutlierPolicy{ConsecutiveFailures: -1}),
		"percent above 100":   discovery.WithOutlierEjection(discovery.OutlierPolicy{MaxEjectedPercent: 101}),
		"max below base time": discovery.WithOutlierEjection(discovery.OutlierPolicy{BaseEjectionTime: 2, MaxEjectionTime: 1}),
		"idle under a second": discovery.WithIdleTimeout(time.Second - 1),
	} {
		if _, err := discovery.NewResolver(reg, opt); !errors.Is(err, discovery.ErrInvalidOption) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := discovery.NewResolver(nil); !errors.Is(err, discovery.ErrInvalidOption) {
		t.Errorf("nil registry: %v", err)
	}
}
