package grpcresolver_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/roundrobin"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/grpcresolver"
)

// captureBuilder is a real round-robin balancer that also hands the
// resolver's endpoints to the test, as a custom weighted balancer would
// read them.
type captureBuilder struct{ got chan []resolver.Endpoint }

func (b captureBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	return &captureBalancer{Balancer: balancer.Get(roundrobin.Name).Build(cc, opts), got: b.got}
}

func (captureBuilder) Name() string { return "microkit_capture_test" }

type captureBalancer struct {
	balancer.Balancer
	got chan []resolver.Endpoint
}

func (c *captureBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	select {
	case c.got <- s.ResolverState.Endpoints:
	default:
	}
	return c.Balancer.UpdateClientConnState(s)
}

var (
	captureOnce sync.Once
	captured    = make(chan []resolver.Endpoint, 1)
)

func TestEndpointsCarryInstanceIDAndWeight(t *testing.T) {
	captureOnce.Do(func() { balancer.Register(captureBuilder{got: captured}) })
	reg, err := discovery.NewMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(context.Background())
	in := startServer(t, "greeter", "heavy")
	in.Weight = 3
	if err := reg.Register(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, reg, grpcresolver.WithLoadBalancingConfig(`{"loadBalancingConfig":[{"microkit_capture_test":{}}]}`))
	served(t, c, 1)
	select {
	case eps := <-captured:
		if len(eps) != 1 {
			t.Fatalf("endpoints %v", eps)
		}
		id, ok := grpcresolver.InstanceID(eps[0])
		w, wok := grpcresolver.Weight(eps[0])
		if !ok || id != "heavy" || !wok || w != 3 || eps[0].Addresses[0].Addr != in.Addr() {
			t.Fatalf("endpoint %+v: id %q %v, weight %d %v", eps[0], id, ok, w, wok)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the balancer never got the resolver's state")
	}
}

func TestRegisterInstallsTheSchemeGlobally(t *testing.T) {
	reg, err := discovery.NewMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(context.Background())
	in := startServer(t, "global", "g1")
	in.Service = "global"
	if err := reg.Register(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	b, err := grpcresolver.NewBuilder(reg)
	if err != nil {
		t.Fatal(err)
	}
	grpcresolver.Register(b)
	conn, err := grpc.NewClient("microkit:///global", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatal(err)
	}
}
