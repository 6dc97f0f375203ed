package consul_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/consul"
)

// The server side: announce the instance with an HTTP check on /readyz
// and deregister on shutdown. (Compile-only: it needs a Consul agent.)
func ExampleNew_announce() {
	ctx := context.Background()
	health := discovery.NewHealth(2 * time.Second)
	http.Handle("/healthz", health.LivenessHandler())
	http.Handle("/readyz", health.ReadinessHandler())

	reg, err := consul.New(nil, // CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT, ...
		consul.WithHTTPCheck("/readyz", 10*time.Second),
		consul.WithDeregisterCriticalServiceAfter(time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	a, err := discovery.Announce(ctx, reg, discovery.Instance{
		ID: "product-1", Service: "product-service", Address: "10.0.0.7", Port: 8080,
	}, discovery.WithHealth(health))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close(context.Background())
}

// The client side: a resolver fed by blocking queries, and an http.Client
// that calls services by name.
func ExampleNew_client() {
	reg, err := consul.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	resolver, err := discovery.NewResolver(reg,
		discovery.WithOutlierEjection(discovery.OutlierPolicy{ConsecutiveFailures: 5}))
	if err != nil {
		log.Fatal(err)
	}
	defer resolver.Close(context.Background())
	transport, err := discovery.NewTransport(resolver)
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: transport, Timeout: 5 * time.Second}
	resp, err := client.Get("http://product-service/products/42")
	if err != nil {
		log.Print(err)
		return
	}
	defer resp.Body.Close()
}

// The client settings as options, without an *api.Config or the CONSUL_*
// variables. (Compile-only: it needs a Consul agent.)
func ExampleWithAddress() {
	reg, err := consul.New(nil,
		consul.WithAddress("https://consul.internal:8501"),
		consul.WithToken("2f5e8c1a-6d4b-4a8e-9c3f-0b7d1e2a4c6f"),
		consul.WithDatacenter("eu-west-1"))
	if err != nil {
		log.Fatal(err)
	}
	instances, err := reg.Instances(context.Background(), "product-service")
	if err != nil {
		log.Fatal(err)
	}
	log.Println(len(instances), "product-service instances")
}
