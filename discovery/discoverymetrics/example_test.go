package discoverymetrics_test

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/discoverymetrics"
)

func Example() {
	reg := prometheus.NewRegistry() // in a service: the registry /metrics serves
	m, err := discoverymetrics.New(reg)
	if err != nil {
		panic(err)
	}
	registry, _ := discovery.NewMemory()
	defer registry.Close(context.Background())
	ctx := context.Background()
	_ = registry.Register(ctx, discovery.Instance{ID: "product-1", Service: "product-service", Address: "127.0.0.1", Port: 8081})

	resolver, err := discovery.NewResolver(registry, discovery.WithListener(m))
	if err != nil {
		panic(err)
	}
	defer resolver.Close(context.Background())
	ep, err := resolver.Pick(ctx, "product-service")
	if err != nil {
		panic(err)
	}
	ep.Done(nil)

	families, _ := reg.Gather()
	for _, f := range families {
		for _, s := range f.GetMetric() {
			fmt.Println(f.GetName(), s.GetLabel()[0].GetValue(), s.GetGauge().GetValue())
		}
	}
	// Output:
	// microkit_discovery_healthy_instances product-service 1
	// microkit_discovery_stale_services product-service 0
}
