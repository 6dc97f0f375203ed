package consul_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/consul"
	"github.com/go-microkit/microkit/discovery/discoverytest"
)

// BenchmarkWatchPropagation measures how long a health change in Consul
// takes to reach the resolver's snapshot: each op fails an instance's TTL
// check, waits until the snapshot drops it, passes the check and waits
// until the snapshot has it again. ns/change is half of ns/op.
func BenchmarkWatchPropagation(b *testing.B) {
	ctx := context.Background()
	reg := sharedRegistry(b, consul.WithTTLCheck(time.Minute))
	service := discoverytest.UniqueService("bench-prop")
	cleanupService(b, reg, service)
	x, y := instance(service, 1, 9301), instance(service, 2, 9302)
	for _, in := range []discovery.Instance{x, y} {
		if err := reg.Register(ctx, in); err != nil {
			b.Fatal(err)
		}
		if err := reg.Heartbeat(ctx, in.ID); err != nil {
			b.Fatal(err)
		}
	}
	r, err := discovery.NewResolver(reg, discovery.WithLogger(quietLogger))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	if _, err := r.Pick(ctx, service); err != nil {
		b.Fatal(err)
	}
	both, onlyY := []string{x.ID, y.ID}, []string{y.ID}
	await := func(want []string) {
		deadline := time.Now().Add(5 * time.Second)
		for !slices.Equal(ids(r.Status(service).Instances), want) {
			if time.Now().After(deadline) {
				b.Fatalf("snapshot did not reach %v", want)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
	await(both)
	agent := reg.Client().Agent()
	for b.Loop() {
		if err := agent.UpdateTTL("service:"+x.ID, "", api.HealthCritical); err != nil {
			b.Fatal(err)
		}
		await(onlyY)
		if err := agent.UpdateTTL("service:"+x.ID, "", api.HealthPassing); err != nil {
			b.Fatal(err)
		}
		await(both)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/change")
}

// BenchmarkLookup compares the naive way, a Consul health query per
// request, with the resolver's snapshot read, against the same agent and
// the same three passing instances.
func BenchmarkLookup(b *testing.B) {
	ctx := context.Background()
	reg := sharedRegistry(b)
	service := discoverytest.UniqueService("bench-lookup")
	cleanupService(b, reg, service)
	for i := range 3 {
		if err := reg.Register(ctx, instance(service, i, 9500+i)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("query-per-request", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			set, err := reg.Instances(ctx, service)
			if err != nil || len(set) != 3 {
				b.Fatalf("%v, %v", set, err)
			}
			_ = set[i%len(set)].Addr()
		}
	})
	b.Run("resolver-snapshot", func(b *testing.B) {
		r, err := discovery.NewResolver(reg, discovery.WithLogger(quietLogger))
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close(context.Background())
		ep, err := r.Pick(ctx, service) // starts the watch
		if err != nil {
			b.Fatal(err)
		}
		ep.Done(nil)
		b.ReportAllocs()
		for b.Loop() {
			ep, err := r.Pick(ctx, service)
			if err != nil {
				b.Fatal(err)
			}
			_ = ep.Addr()
			ep.Done(nil)
		}
	})
}
