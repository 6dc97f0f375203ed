package consul_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/consul"
	"github.com/go-microkit/microkit/internal/testenv"
)

var quietLogger = slog.New(slog.DiscardHandler)

// sharedRegistry returns a Registry on the shared agent at
// CONSUL_HTTP_ADDR that deregisters what the test registered.
func sharedRegistry(t testing.TB, opts ...consul.Option) *consul.Registry {
	t.Helper()
	addr := testenv.Addr(t, "CONSUL_HTTP_ADDR")
	return registryAt(t, addr, opts...)
}

func registryAt(t testing.TB, addr string, opts ...consul.Option) *consul.Registry {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = addr
	opts = append([]consul.Option{consul.WithLogger(quietLogger), consul.WithWatchBackoff(20*time.Millisecond, 200*time.Millisecond)}, opts...)
	reg, err := consul.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// cleanupService deregisters every instance of service on the agent at the
// end of the test.
func cleanupService(t testing.TB, reg *consul.Registry, service string) {
	t.Cleanup(func() {
		services, err := reg.Client().Agent().ServicesWithFilter(fmt.Sprintf("Service == %q", service))
		if err != nil {
			return // the agent may be gone in fault tests
		}
		for id := range services {
			_ = reg.Deregister(context.Background(), id)
		}
	})
}

func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func instance(service string, n int, port int) discovery.Instance {
	return discovery.Instance{ID: fmt.Sprintf("%s-%d", service, n), Service: service, Address: "127.0.0.1", Port: port}
}

func ids(set []discovery.Instance) []string {
	out := make([]string, len(set))
	for i, in := range set {
		out[i] = in.ID
	}
	return out
}
