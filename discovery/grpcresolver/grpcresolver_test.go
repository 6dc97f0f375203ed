package grpcresolver_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/grpcresolver"
)

// startServer runs a real gRPC server with the health service on a
// loopback port and returns its instance.
func startServer(t *testing.T, service, id string) discovery.Instance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	addr := ln.Addr().(*net.TCPAddr)
	return discovery.Instance{ID: id, Service: service, Address: "127.0.0.1", Port: addr.Port}
}

func newClient(t *testing.T, reg discovery.Registry, opts ...grpcresolver.Option) healthpb.HealthClient {
	t.Helper()
	opts = append([]grpcresolver.Option{grpcresolver.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	b, err := grpcresolver.NewBuilder(reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("microkit:///greeter", grpc.WithResolvers(b),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// served calls n times and returns the set of server addresses that
// answered.
func served(t *testing.T, c healthpb.HealthClient, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var p peer.Peer
		_, err := c.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p), grpc.WaitForReady(true))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		out[p.Addr.String()]++
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClientFollowsTheRegistry(t *testing.T) {
	for name, cfg := range map[string]string{
		"least request (default)": grpcresolver.DefaultLoadBalancingConfig,
		"round robin":             `{"loadBalancingConfig":[{"round_robin":{}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, b := startServer(t, "greeter", "a"), startServer(t, "greeter", "b")
			reg, err := discovery.NewMemory()
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			for _, in := range []discovery.Instance{a, b} {
				if err := reg.Register(ctx, in); err != nil {
					t.Fatal(err)
				}
			}
			c := newClient(t, reg, grpcresolver.WithLoadBalancingConfig(cfg))
			waitFor(t, "both servers to take calls", func() bool { return len(served(t, c, 20)) == 2 })

			if err := reg.Deregister(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "calls to go to b only", func() bool {
				got := served(t, c, 10)
				return len(got) == 1 && got[b.Addr()] == 10
			})

			// The registry goes away: the client keeps the last set.
			_ = reg.Close()
			if got := served(t, c, 10); got[b.Addr()] != 10 {
				t.Fatalf("with the registry down: %v", got)
			}
		})
	}
}

func TestBuilderErrors(t *testing.T) {
	if _, err := grpcresolver.NewBuilder(nil); !errors.Is(err, discovery.ErrInvalidOption) {
		t.Fatalf("nil registry: %v", err)
	}
	reg, _ := discovery.NewMemory()
	defer reg.Close()
	if _, err := grpcresolver.NewBuilder(reg, grpcresolver.WithLogger(nil)); !errors.Is(err, discovery.ErrInvalidOption) {
		t.Fatalf("nil logger: %v", err)
	}
	b, _ := grpcresolver.NewBuilder(reg, grpcresolver.WithLoadBalancingConfig(`{"loadBalancingConfig":[{"no_such_policy":{}}]}`))
	conn, err := grpc.NewClient("microkit:///greeter", grpc.WithResolvers(b), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err == nil {
		// NewClient is lazy; the build error shows on the first call.
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	}
	if err == nil {
		t.Fatal("a service config naming an unknown policy must fail")
	}
}
