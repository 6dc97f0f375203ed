package discovery_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/go-microkit/microkit/discovery"
)

// benchResolver returns a resolver over n instances of "svc" whose
// snapshot is already loaded.
func benchResolver(b *testing.B, n int, newBalancer func() discovery.Balancer, opts ...discovery.ResolverOption) *discovery.Resolver {
	b.Helper()
	var instances []discovery.Instance
	for i := range n {
		instances = append(instances, discovery.Instance{ID: fmt.Sprint("i", i), Service: "svc", Address: "10.0.0.1", Port: 1000 + i, Weight: 1 + i%3})
	}
	reg := must[*discovery.Static](b)(discovery.NewStatic(instances))
	opts = append([]discovery.ResolverOption{discovery.WithBalancer(newBalancer)}, opts...)
	r := newResolver(b, reg, opts...)
	pickID(b, r, "svc")
	return r
}

var balancers = []struct {
	name string
	new  func() discovery.Balancer
}{
	{"RoundRobin", discovery.RoundRobin},
	{"Random", discovery.Random},
	{"Weighted", discovery.Weighted},
	{"LeastRequest", discovery.LeastRequest},
}

// BenchmarkPick measures Pick+Done from the snapshot: the per-request
// cost of client-side discovery. It must not allocate.
func BenchmarkPick(b *testing.B) {
	ctx := context.Background()
	for _, bal := range balancers {
		b.Run(bal.name, func(b *testing.B) {
			r := benchResolver(b, 10, bal.new)
			b.ReportAllocs()
			for b.Loop() {
				pickDone(b, ctx, r)
			}
		})
	}
	b.Run("LeastRequest/outlier", func(b *testing.B) {
		r := benchResolver(b, 10, discovery.LeastRequest, discovery.WithOutlierEjection(discovery.OutlierPolicy{}))
		b.ReportAllocs()
		for b.Loop() {
			pickDone(b, ctx, r)
		}
	})
}

// BenchmarkPickParallel is BenchmarkPick from every core at once: the
// snapshot is read through one atomic pointer, so picks do not contend on
// a lock.
func BenchmarkPickParallel(b *testing.B) {
	ctx := context.Background()
	for _, bal := range balancers {
		b.Run(bal.name, func(b *testing.B) {
			r := benchResolver(b, 10, bal.new)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					pickDone(b, ctx, r)
				}
			})
		})
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	for _, bal := range balancers {
		r := newResolver(t, must[*discovery.Static](t)(discovery.NewStatic([]discovery.Instance{inst("svc", 0), inst("svc", 1)})), discovery.WithBalancer(bal.new))
		pickID(t, r, "svc")
		allocs := testing.AllocsPerRun(100, func() {
			ep, _ := r.Pick(ctx, "svc")
			ep.Done(nil)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocs per Pick+Done", bal.name, allocs)
		}
	}
}

func pickDone(b *testing.B, ctx context.Context, r *discovery.Resolver) {
	ep, err := r.Pick(ctx, "svc")
	if err != nil {
		b.Fatal(err)
	}
	ep.Done(nil)
}
