package grpcresolver_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
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

func newClient(t *testing.T, reg discovery.Instancer, opts ...grpcresolver.Option) healthpb.HealthClient {
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
			defer reg.Close(context.Background())
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
			_ = reg.Close(context.Background())
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
	defer reg.Close(context.Background())
	if _, err := grpcresolver.NewBuilder(reg, grpcresolver.WithLogger(nil)); err != nil {
		t.Fatalf("nil logger means the default: %v", err)
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

// emptyRegistry reports when its watcher is asked again after answering
// with an empty set: the resolver has then handed that answer to gRPC.
type emptyRegistry struct {
	*discovery.Memory
	handled atomic.Bool
}

func (e *emptyRegistry) Watch(ctx context.Context, service string) (discovery.Watcher, error) {
	w, err := e.Memory.Watch(ctx, service)
	return &emptyWatcher{Watcher: w, handled: &e.handled}, err
}

type emptyWatcher struct {
	discovery.Watcher
	handled   *atomic.Bool
	lastEmpty bool // only the resolver's goroutine calls Next
}

func (w *emptyWatcher) Next(ctx context.Context) ([]discovery.Instance, error) {
	if w.lastEmpty {
		w.handled.Store(true)
	}
	set, err := w.Watcher.Next(ctx)
	w.lastEmpty = err == nil && len(set) == 0
	return set, err
}

// A registry that suddenly answers empty (an agent restarted empty) does
// not empty the client: it keeps calling the last known set through the
// grace period (its end is tested in a bubble, in grace_test.go). With the
// guard off, the client takes the empty answer at once and calls fail.
func TestEmptyAnswerIsHeldForTheGracePeriod(t *testing.T) {
	for _, tt := range []struct {
		name      string
		policy    discovery.PanicPolicy
		wantEmpty bool
	}{
		{"within the grace period", discovery.PanicPolicy{Grace: time.Hour}, false},
		{"with the guard off", discovery.PanicPolicy{Off: true}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			a, b := startServer(t, "greeter", "a"), startServer(t, "greeter", "b")
			mem, err := discovery.NewMemory()
			if err != nil {
				t.Fatal(err)
			}
			defer mem.Close(context.Background())
			reg := &emptyRegistry{Memory: mem}
			for _, in := range []discovery.Instance{a, b} {
				if err := reg.Register(ctx, in); err != nil {
					t.Fatal(err)
				}
			}
			c := newClient(t, reg, grpcresolver.WithPanicPolicy(tt.policy))
			waitFor(t, "both servers to take calls", func() bool { return len(served(t, c, 20)) == 2 })

			for _, in := range []discovery.Instance{a, b} {
				if err := reg.Deregister(ctx, in.ID); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "the empty answer to be handled", reg.handled.Load)
			if !tt.wantEmpty {
				if got := served(t, c, 10); got[a.Addr()]+got[b.Addr()] != 10 {
					t.Fatalf("after an empty answer: %v", got)
				}
				return
			}
			waitFor(t, "calls to fail once the empty set is taken", func() bool {
				cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				defer cancel()
				_, err := c.Check(cctx, &healthpb.HealthCheckRequest{})
				return err != nil
			})
		})
	}
}

func TestPanicPolicyIsValidated(t *testing.T) {
	reg, _ := discovery.NewMemory()
	defer reg.Close(context.Background())
	if _, err := grpcresolver.NewBuilder(reg, grpcresolver.WithPanicPolicy(discovery.PanicPolicy{ThresholdPercent: 101})); !errors.Is(err, discovery.ErrInvalidOption) {
		t.Fatalf("invalid policy: %v", err)
	}
}
