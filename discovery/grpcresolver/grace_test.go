package grpcresolver_test

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/grpcresolver"
)

// stateRecorder is the ClientConn side of a resolver: it keeps the
// addresses of the last state the resolver handed gRPC.
type stateRecorder struct {
	resolver.ClientConn // the methods below are all a resolver calls

	mu    sync.Mutex
	addrs []string
}

func (c *stateRecorder) UpdateState(s resolver.State) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addrs = c.addrs[:0]
	for _, ep := range s.Endpoints {
		c.addrs = append(c.addrs, ep.Addresses[0].Addr)
	}
	return nil
}

func (c *stateRecorder) ReportError(error) {}

func (c *stateRecorder) ParseServiceConfig(string) *serviceconfig.ParseResult {
	return &serviceconfig.ParseResult{}
}

func (c *stateRecorder) served() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.addrs)
}

// The grace period of an empty answer, on the resolver's own timer: gRPC
// keeps the last known set until the grace period ends to the instant, and
// gets the empty answer then, with no further word from the registry.
func TestEmptyAnswerIsHeldToTheEndOfTheGracePeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const grace = 30 * time.Second
		ctx := context.Background()
		mem, err := discovery.NewMemory()
		if err != nil {
			t.Fatal(err)
		}
		defer mem.Close(ctx)
		in := discovery.Instance{ID: "a", Service: "greeter", Address: "10.0.0.1", Port: 9000}
		if err := mem.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
		builder, err := grpcresolver.NewBuilder(mem, grpcresolver.WithLogger(slog.New(slog.DiscardHandler)),
			grpcresolver.WithPanicPolicy(discovery.PanicPolicy{Grace: grace}))
		if err != nil {
			t.Fatal(err)
		}
		cc := &stateRecorder{}
		r, err := builder.Build(resolver.Target{URL: url.URL{Scheme: grpcresolver.Scheme, Path: "/greeter"}}, cc, resolver.BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		synctest.Wait()
		last := []string{in.Addr()}
		if got := cc.served(); !slices.Equal(got, last) {
			t.Fatalf("first state %v, want %v", got, last)
		}

		if err := mem.Deregister(ctx, in.ID); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := cc.served(); !slices.Equal(got, last) {
			t.Fatalf("right after the empty answer: %v, want %v", got, last)
		}
		time.Sleep(grace - time.Nanosecond)
		synctest.Wait()
		if got := cc.served(); !slices.Equal(got, last) {
			t.Fatalf("just before the grace period ends: %v, want %v", got, last)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := cc.served(); len(got) != 0 {
			t.Fatalf("once the grace period ended: %v, want none", got)
		}
	})
}
