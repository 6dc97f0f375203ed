package tracinggrpc_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/tracing"
	"github.com/go-microkit/microkit/tracing/tracinggrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// newHealthClient serves the standard gRPC health service in process over
// bufconn, traced on both ends by tr, and returns a client for it.
func newHealthClient(t *testing.T, tr *tracing.Tracer) healthpb.HealthClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(tracinggrpc.ServerOption(tr))
	hs := health.NewServer()
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		tracinggrpc.DialOption(tr),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func newRecorded(t *testing.T) (*tracing.Tracer, *endedSpans) {
	t.Helper()
	rec := &endedSpans{SpanRecorder: tracetest.NewSpanRecorder(), changed: make(chan struct{})}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr, err := tracing.New(
		tracing.WithTracerProvider(tp),
		tracing.WithPropagator(propagation.TraceContext{}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return tr, rec
}

// endedSpans is a span recorder that wakes waiters when a span ends: the
// server ends its span after sending the response, so the client can return
// before the server span has ended.
type endedSpans struct {
	*tracetest.SpanRecorder
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every OnEnd
}

func (e *endedSpans) OnEnd(s sdktrace.ReadOnlySpan) {
	e.SpanRecorder.OnEnd(s)
	e.mu.Lock()
	defer e.mu.Unlock()
	close(e.changed)
	e.changed = make(chan struct{})
}

// span waits until the span with name and kind has ended and returns it.
func span(t *testing.T, rec *endedSpans, name string, kind trace.SpanKind) sdktrace.ReadOnlySpan {
	t.Helper()
	// Only a guard against a hang: every span ends right after its call.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		rec.mu.Lock()
		changed := rec.changed
		rec.mu.Unlock()
		var found []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if s.Name() == name && s.SpanKind() == kind {
				found = append(found, s)
			}
		}
		switch {
		case len(found) == 1:
			return found[0]
		case len(found) > 1:
			t.Fatalf("%d %v spans named %q", len(found), kind, name)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("no %v span named %q ended among %d", kind, name, len(rec.Ended()))
		}
	}
}

const checkMethod = "grpc.health.v1.Health/Check"

func TestGRPCClientToServerIsOneTrace(t *testing.T) {
	tr, rec := newRecorded(t)
	client := newHealthClient(t, tr)

	err := tr.Do(t.Context(), "Probe", func(ctx context.Context) error {
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "orders"})
		if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("status = %v, want SERVING", resp.GetStatus())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	root := span(t, rec, "Probe", trace.SpanKindInternal)
	c := span(t, rec, checkMethod, trace.SpanKindClient)
	s := span(t, rec, checkMethod, trace.SpanKindServer)
	if c.Parent().SpanID() != root.SpanContext().SpanID() {
		t.Errorf("client span parent = %v, want Probe %v", c.Parent().SpanID(), root.SpanContext().SpanID())
	}
	if s.Parent().SpanID() != c.SpanContext().SpanID() || !s.Parent().IsRemote() ||
		s.SpanContext().TraceID() != root.SpanContext().TraceID() {
		t.Errorf("server span parent = %v (remote %v), want the client span %v across the wire",
			s.Parent().SpanID(), s.Parent().IsRemote(), c.SpanContext().SpanID())
	}
	for _, sp := range []sdktrace.ReadOnlySpan{c, s} {
		attrs := map[attribute.Key]attribute.Value{}
		for _, kv := range sp.Attributes() {
			attrs[kv.Key] = kv.Value
		}
		if got := attrs["rpc.system.name"].AsString(); got != "grpc" {
			t.Errorf("%v rpc.system.name = %q, want grpc (attributes %v)", sp.SpanKind(), got, sp.Attributes())
		}
		if got := attrs["rpc.method"].AsString(); got != checkMethod {
			t.Errorf("%v rpc.method = %q, want %s", sp.SpanKind(), got, checkMethod)
		}
		if sp.Status().Code != codes.Unset {
			t.Errorf("%v status = %v, want Unset", sp.SpanKind(), sp.Status())
		}
	}
}

func TestGRPCErrorStatus(t *testing.T) {
	tr, rec := newRecorded(t)
	client := newHealthClient(t, tr)

	_, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "unknown"})
	if status.Code(err) != grpccodes.NotFound {
		t.Fatalf("Check unknown service: %v, want NotFound", err)
	}
	if c := span(t, rec, checkMethod, trace.SpanKindClient); c.Status().Code != codes.Error {
		t.Errorf("client status = %v, want Error", c.Status())
	}
	// The gRPC conventions count NotFound as the caller's fault: a server
	// span leaves its status unset.
	if s := span(t, rec, checkMethod, trace.SpanKindServer); s.Status().Code != codes.Unset {
		t.Errorf("server status = %v, want Unset", s.Status())
	}
}
