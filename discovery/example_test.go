package discovery_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/go-microkit/microkit/discovery"
)

// A client calls "product-service" by name; the transport resolves it
// through the registry and balances over the instances.
func ExampleTransport() {
	ctx := context.Background()
	reg, _ := discovery.NewMemory()
	defer reg.Close(ctx)

	// Server side: an instance of product-service announces itself.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "product %s", r.URL.Path[len("/products/"):])
	}))
	defer srv.Close()
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	a, _ := discovery.Announce(ctx, reg, discovery.Instance{
		ID: "product-1", Service: "product-service", Address: host, Port: p,
	})
	defer a.Close(ctx)

	// Client side: a product-service client is an http.Client.
	resolver, _ := discovery.NewResolver(reg,
		discovery.WithOutlierEjection(discovery.OutlierPolicy{ConsecutiveFailures: 5}))
	defer resolver.Close(ctx)
	transport, _ := discovery.NewTransport(resolver)
	client := &http.Client{Transport: transport, Timeout: 5 * time.Second}

	resp, err := client.Get("http://product-service/products/42")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 product 42
}

// Pick returns an endpoint from the resolver's snapshot; Done reports the
// outcome for outlier ejection.
func ExampleResolver_Pick() {
	ctx := context.Background()
	reg, _ := discovery.NewStatic([]discovery.Instance{
		{ID: "a", Service: "users", Address: "10.0.0.1", Port: 9000},
		{ID: "b", Service: "users", Address: "10.0.0.2", Port: 9000},
	})
	r, _ := discovery.NewResolver(reg, discovery.WithBalancer(discovery.RoundRobin))
	defer r.Close(ctx)
	for range 3 {
		ep, err := r.Pick(ctx, "users")
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ep.Addr())
		ep.Done(nil) // or the call's error
	}
	// Output:
	// 10.0.0.1:9000
	// 10.0.0.2:9000
	// 10.0.0.1:9000
}

// A listener hears what the resolver does: here, that it took the first
// set of a service. Package discoverymetrics is such a listener, for
// Prometheus.
func ExampleWithListener() {
	ctx := context.Background()
	reg, _ := discovery.NewStatic([]discovery.Instance{
		{ID: "a", Service: "users", Address: "10.0.0.1", Port: 9000},
	})
	r, _ := discovery.NewResolver(reg, discovery.WithListener(discovery.ListenerFunc(func(_ context.Context, e discovery.Event) {
		fmt.Println(e.Kind, e.Service, e.Instances)
	})))
	defer r.Close(ctx)
	ep, err := r.Pick(ctx, "users")
	if err != nil {
		fmt.Println(err)
		return
	}
	ep.Done(nil)
	// Output:
	// updated users 1
}

// With a TTL, an instance stays healthy only while it heartbeats; Announce
// heartbeats for it.
func ExampleMemory_ttl() {
	ctx := context.Background()
	reg, _ := discovery.NewMemory(discovery.WithTTL(3 * time.Second))
	defer reg.Close(ctx)
	a, _ := discovery.Announce(ctx, reg, discovery.Instance{
		ID: "orders-1", Service: "orders", Address: "127.0.0.1", Port: 8080,
	})
	got, _ := reg.Instances(ctx, "orders")
	fmt.Println(len(got), got[0].ID)

	_ = a.Close(ctx) // deregisters
	got, _ = reg.Instances(ctx, "orders")
	fmt.Println(len(got))
	// Output:
	// 1 orders-1
	// 0
}

// ParseStatic reads addresses from configuration, e.g. an environment
// variable read by StaticFromEnv.
func ExampleParseStatic() {
	instances, _ := discovery.ParseStatic("product-service=10.0.0.1:8080,10.0.0.2:8080*2")
	for _, in := range instances {
		fmt.Println(in.ID, in.EffectiveWeight())
	}
	// Output:
	// product-service@10.0.0.1:8080 1
	// product-service@10.0.0.2:8080 2
}

// Health serves /healthz and /readyz; point the registry's HTTP check at
// /readyz.
func ExampleHealth() {
	h := discovery.NewHealth(time.Second)
	h.AddCheck("db", func(ctx context.Context) error { return nil })
	mux := http.NewServeMux()
	mux.Handle("/healthz", h.LivenessHandler())
	mux.Handle("/readyz", h.ReadinessHandler())

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	h.Drain()
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// 200 {"status":"ready","checks":{"db":"ok"}}
	// 503 {"status":"draining"}
}
