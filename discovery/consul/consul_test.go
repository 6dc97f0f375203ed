package consul_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/consul"
	"github.com/go-microkit/microkit/discovery/discoverytest"
)

func TestConformance(t *testing.T) {
	discoverytest.Run(t, conformanceHarness(sharedRegistry(t), false))
}

// With a TTL check every instance starts critical; the harness heartbeats
// after each registration, as Announce does, and the suite checks
// Heartbeat itself.
func TestConformanceWithTTLCheck(t *testing.T) {
	discoverytest.Run(t, conformanceHarness(sharedRegistry(t, consul.WithTTLCheck(time.Minute)), true))
}

func conformanceHarness(reg *consul.Registry, beat bool) discoverytest.Harness {
	return discoverytest.Harness{
		// Agent registrations reach the catalog in milliseconds; the bound
		// is for a CI machine running every package at once.
		Settle: 5 * time.Second,
		New: func(t *testing.T, seed []discovery.Instance) discovery.Instancer {
			c := &cleaningRegistry{Registry: reg, t: t, beat: beat}
			for _, in := range seed {
				if err := c.Register(context.Background(), in); err != nil {
					t.Fatal(err)
				}
			}
			return c
		},
	}
}

// cleaningRegistry deregisters at the end of the test every service it
// registered, so that the shared agent stays clean, and with beat passes
// the TTL check of each instance it registers.
type cleaningRegistry struct {
	*consul.Registry
	t    *testing.T
	beat bool
}

func (c *cleaningRegistry) Register(ctx context.Context, in discovery.Instance) error {
	cleanupService(c.t, c.Registry, in.Service)
	if err := c.Registry.Register(ctx, in); err != nil || !c.beat {
		return err
	}
	return c.Registry.Heartbeat(ctx, in.ID)
}

// An instance whose TTL check fails leaves Instances and the resolver's
// snapshot within 2s, through blocking queries, and comes back when it
// passes again.
func TestFailingCheckDisappearsWithinTwoSeconds(t *testing.T) {
	ctx := context.Background()
	reg := sharedRegistry(t, consul.WithTTLCheck(time.Minute))
	service := discoverytest.UniqueService("ttl")
	cleanupService(t, reg, service)
	a, b := instance(service, 1, 9001), instance(service, 2, 9002)
	for _, in := range []discovery.Instance{a, b} {
		ann, err := discovery.Announce(ctx, reg, in, discovery.WithHeartbeatInterval(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ann.Close(context.Background()) })
	}
	r, err := discovery.NewResolver(reg, discovery.WithLogger(quietLogger))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	inSnapshot := func(want ...string) func() bool {
		return func() bool { return slices.Equal(ids(r.Status(service).Instances), want) }
	}
	inInstances := func(want ...string) func() bool {
		return func() bool {
			got, err := reg.Instances(ctx, service)
			return err == nil && slices.Equal(ids(got), want)
		}
	}
	if _, err := r.Pick(ctx, service); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "both instances in the snapshot", inSnapshot(a.ID, b.ID))

	if err := reg.Client().Agent().UpdateTTL("service:"+a.ID, "test fails it", api.HealthCritical); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "critical instance gone from Instances", inInstances(b.ID))
	waitFor(t, 2*time.Second, "critical instance gone from the snapshot", inSnapshot(b.ID))
	for range 20 {
		ep, err := r.Pick(ctx, service)
		if err != nil || ep.Instance().ID != b.ID {
			t.Fatalf("picked %v, %v", ep, err)
		}
		ep.Done(nil)
	}

	if err := reg.Heartbeat(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "passing instance back in the snapshot", inSnapshot(a.ID, b.ID))
}

// An HTTP check against the instance's /readyz (discovery.Health) takes it
// out when readiness fails.
func TestHTTPCheckFollowsReadiness(t *testing.T) {
	ctx := context.Background()
	health := discovery.NewHealth(time.Second)
	var failing atomic.Bool
	health.AddCheck("dependency", func(context.Context) error {
		if failing.Load() {
			return errors.New("down")
		}
		return nil
	})
	mux := http.NewServeMux()
	mux.Handle("/readyz", health.ReadinessHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	reg := sharedRegistry(t, consul.WithHTTPCheck("/readyz", time.Second), consul.WithCheckTimeout(time.Second))
	service := discoverytest.UniqueService("http")
	cleanupService(t, reg, service)
	in := instance(service, 1, srv.Listener.Addr().(*net.TCPAddr).Port)
	ann, err := discovery.Announce(ctx, reg, in, discovery.WithHealth(health))
	if err != nil {
		t.Fatal(err)
	}
	present := func(want ...string) func() bool {
		return func() bool {
			got, err := reg.Instances(ctx, service)
			return err == nil && slices.Equal(ids(got), want)
		}
	}
	// Consul runs the first check within an interval of registering.
	waitFor(t, 5*time.Second, "the instance to pass its first HTTP check", present(in.ID))
	failing.Store(true)
	waitFor(t, 5*time.Second, "the not-ready instance to leave", present())
	failing.Store(false)
	waitFor(t, 5*time.Second, "the ready instance to return", present(in.ID))

	// Graceful shutdown deregisters at once, without waiting for a check.
	if err := ann.Close(ctx); err != nil {
		t.Fatal(err)
	}
	services, err := reg.Client().Agent().ServicesWithFilter(`Service == "` + service + `"`)
	if err != nil || len(services) != 0 {
		t.Fatalf("agent still has %v after Close (%v)", services, err)
	}
	if got, err := reg.Instances(ctx, service); err != nil || len(got) != 0 {
		t.Fatalf("Instances after Close: %v, %v", got, err)
	}
}

// New(nil) takes the address, ACL token and TLS settings from the
// standard CONSUL_* variables.
func TestNewReadsTheStandardEnvironment(t *testing.T) {
	var token atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token.Store(r.Header.Get("X-Consul-Token"))
		w.Header().Set("X-Consul-Index", "7")
		_, _ = w.Write([]byte("[]"))
	}))
	defer srv.Close()
	t.Setenv("CONSUL_HTTP_ADDR", srv.URL)
	t.Setenv("CONSUL_HTTP_TOKEN", "s3cret")
	reg, err := consul.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Instances(context.Background(), "any"); err != nil {
		t.Fatal(err)
	}
	if got := token.Load(); got != "s3cret" {
		t.Fatalf("agent saw token %q", got)
	}

	t.Setenv("CONSUL_HTTP_SSL", "true")
	t.Setenv("CONSUL_CACERT", t.TempDir()+"/missing-ca.pem")
	if _, err := consul.New(nil); err == nil {
		t.Fatal("New must fail when CONSUL_CACERT names a missing file")
	}
}

func TestNewValidatesOptions(t *testing.T) {
	for name, opt := range map[string]consul.Option{
		"long wait":        consul.WithWaitTime(time.Hour),
		"inverted backoff": consul.WithWatchBackoff(2, 1),
		"short TTL":        consul.WithTTLCheck(time.Millisecond),
		"empty HTTP path":  consul.WithHTTPCheck("", time.Second),
		"zero gRPC period": consul.WithGRPCCheck(0),
		"negative timeout": consul.WithCheckTimeout(-1),
		"negative reap":    consul.WithDeregisterCriticalServiceAfter(-1),
	} {
		if _, err := consul.New(api.DefaultConfig(), opt); !errors.Is(err, discovery.ErrInvalidOption) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
