package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"
	kitlog "github.com/go-kit/log"

	"github.com/go-microkit/microkit/discovery"
)

// The discovery benchmarks measure the per-request cost of client-side
// discovery: choosing an instance of a service from a locally cached set.
// microkit's Resolver.Pick (+ Endpoint.Done) reads an immutable snapshot
// through an atomic pointer; go-kit's lb balancers read the cached endpoints
// of an sd.DefaultEndpointer, which the instancer keeps up to date, under
// its mutex. Both serve ten instances.

const discoveryInstances = 10

func microkitResolver(b *testing.B, newBalancer func() discovery.Balancer) *discovery.Resolver {
	b.Helper()
	var set []discovery.Instance
	for i := range discoveryInstances {
		set = append(set, discovery.Instance{ID: fmt.Sprint("i", i), Service: "svc", Address: "10.0.0.1", Port: 1000 + i})
	}
	reg, err := discovery.NewStatic(set)
	if err != nil {
		b.Fatal(err)
	}
	r, err := discovery.NewResolver(reg, discovery.WithBalancer(newBalancer))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close(context.Background()) })
	ep, err := r.Pick(context.Background(), "svc") // loads the snapshot
	if err != nil {
		b.Fatal(err)
	}
	ep.Done(nil)
	return r
}

// pickParallel picks from r, and finishes each pick, from every core.
func pickParallel(b *testing.B, r *discovery.Resolver) {
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ep, err := r.Pick(ctx, "svc")
			if err != nil {
				b.Fatal(err)
			}
			ep.Done(nil)
		}
	})
}

func gokitBalancer(b *testing.B, newBalancer func(sd.Endpointer) lb.Balancer) lb.Balancer {
	b.Helper()
	var instances sd.FixedInstancer
	for i := range discoveryInstances {
		instances = append(instances, fmt.Sprintf("10.0.0.1:%d", 1000+i))
	}
	factory := func(string) (endpoint.Endpoint, io.Closer, error) {
		return func(context.Context, any) (any, error) { return nil, nil }, nil, nil
	}
	endpointer := sd.NewEndpointer(instances, factory, kitlog.NewNopLogger())
	b.Cleanup(endpointer.Close)
	bal := newBalancer(endpointer)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := bal.Endpoint(); err == nil {
			return bal
		}
		if time.Now().After(deadline) {
			b.Fatal("go-kit endpointer never filled its cache")
		}
		time.Sleep(time.Millisecond)
	}
}

// gokitRandom is go-kit's random balancer behind a mutex. lb.NewRandom
// draws from a math/rand.Rand, which is not safe for concurrent use: called
// from RunParallel's goroutines unguarded it races, and can panic inside
// rand. A service that shares one balancer among its request goroutines
// must guard it the same way.
func gokitRandom(s sd.Endpointer) lb.Balancer {
	return &lockedBalancer{b: lb.NewRandom(s, time.Now().UnixNano())}
}

type lockedBalancer struct {
	mu sync.Mutex
	b  lb.Balancer
}

func (l *lockedBalancer) Endpoint() (endpoint.Endpoint, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Endpoint()
}

func BenchmarkDiscoveryPick(b *testing.B) {
	for _, bal := range []struct {
		name string
		new  func() discovery.Balancer
	}{
		{"RoundRobin", discovery.RoundRobin},
		{"Random", discovery.Random},
		{"LeastRequest", discovery.LeastRequest},
	} {
		b.Run("microkit/"+bal.name, func(b *testing.B) { pickParallel(b, microkitResolver(b, bal.new)) })
	}
	// The same resolver shown on an operator's console that nobody looks
	// at (compared with microkit/RoundRobin in the console group).
	b.Run("microkit/RoundRobin-console", func(b *testing.B) {
		r := microkitResolver(b, discovery.RoundRobin)
		benchConsole(b).AddResolver("http", r)
		pickParallel(b, r)
	})
	for _, bal := range []struct {
		name string
		new  func(sd.Endpointer) lb.Balancer
	}{
		{"RoundRobin", lb.NewRoundRobin},
		{"Random", gokitRandom},
	} {
		b.Run("gokit/"+bal.name, func(b *testing.B) {
			kb := gokitBalancer(b, bal.new)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := kb.Endpoint(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
