package consul_test

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/go-microkit/microkit/discovery/consul"
	"github.com/go-microkit/microkit/discovery/discoverytest"
)

// A gRPC check follows the instance's grpc.health.v1 status.
func TestGRPCCheckFollowsServingStatus(t *testing.T) {
	ctx := context.Background()
	reg := sharedRegistry(t, consul.WithGRPCCheck(time.Second), consul.WithCheckTimeout(time.Second))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	service := discoverytest.UniqueService("grpc")
	cleanupService(t, reg, service)
	in := instance(service, 1, ln.Addr().(*net.TCPAddr).Port)
	if err := reg.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	present := func(want ...string) func() bool {
		return func() bool {
			got, err := reg.Instances(ctx, service)
			return err == nil && slices.Equal(ids(got), want)
		}
	}
	waitFor(t, 5*time.Second, "the serving instance to pass", present(in.ID))
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	waitFor(t, 5*time.Second, "the not-serving instance to leave", present())
}
