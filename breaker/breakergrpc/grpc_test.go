package breakergrpc_test

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/breaker/breakergrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// server is a real gRPC server whose every method answers with code.
type server struct {
	code atomic.Int64 // codes.Code; OK by default
	hits atomic.Int64
}

func (s *server) handle(_ any, stream grpc.ServerStream) error {
	s.hits.Add(1)
	if err := stream.RecvMsg(&emptypb.Empty{}); err != nil {
		return err
	}
	if c := codes.Code(s.code.Load()); c != codes.OK {
		return status.Error(c, c.String())
	}
	return stream.SendMsg(&emptypb.Empty{})
}

func start(t *testing.T, opts ...grpc.DialOption) (*server, *grpc.ClientConn) {
	t.Helper()
	srv := &server{}
	return srv, serve(t, srv.handle, opts...)
}

// serve starts a real gRPC server on loopback that answers every method
// with handle, and returns a client connection to it.
func serve(t *testing.T, handle grpc.StreamHandler, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	gs := grpc.NewServer(grpc.UnknownServiceHandler(handle))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	cc, err := grpc.NewClient(lis.Addr().String(), append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want breaker.Outcome
	}{
		{nil, breaker.Success},
		{status.Error(codes.Unavailable, ""), breaker.Failure},
		{status.Error(codes.DeadlineExceeded, ""), breaker.Failure},
		{status.Error(codes.ResourceExhausted, ""), breaker.Failure},
		{status.Error(codes.Internal, ""), breaker.Failure},
		{status.Error(codes.InvalidArgument, ""), breaker.Success},
		{status.Error(codes.NotFound, ""), breaker.Success},
		{status.Error(codes.Canceled, ""), breaker.Ignored},
		{context.Canceled, breaker.Ignored},
		{errors.New("plain"), breaker.Failure},
	}
	for _, tt := range tests {
		if got := breakergrpc.Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestUnaryInterceptor(t *testing.T) {
	b, err := breaker.New("grpc", breaker.WithConsecutiveFailures(2), breaker.WithOpenDuration(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srv, cc := start(t, grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptor(breakergrpc.Single(b))))
	call := func() error {
		return cc.Invoke(context.Background(), "/test.Svc/Call", &emptypb.Empty{}, &emptypb.Empty{})
	}
	steps := []struct {
		code     codes.Code
		wantCode codes.Code
		want     breaker.State
	}{
		{codes.OK, codes.OK, breaker.Closed},
		{codes.InvalidArgument, codes.InvalidArgument, breaker.Closed},
		{codes.NotFound, codes.NotFound, breaker.Closed},
		{codes.Unavailable, codes.Unavailable, breaker.Closed},
		{codes.InvalidArgument, codes.InvalidArgument, breaker.Closed}, // a success: resets the run
		{codes.Internal, codes.Internal, breaker.Closed},
		{codes.DeadlineExceeded, codes.DeadlineExceeded, breaker.Open},
	}
	for i, s := range steps {
		srv.code.Store(int64(s.code))
		if err := call(); status.Code(err) != s.wantCode {
			t.Fatalf("step %d: %v, want %v", i, err, s.wantCode)
		}
		if got := b.State(); got != s.want {
			t.Fatalf("step %d: state %v, want %v", i, got, s.want)
		}
	}
	hits := srv.hits.Load()
	err = call()
	if status.Code(err) != codes.Unavailable || !errors.Is(err, breaker.ErrOpen) || srv.hits.Load() != hits {
		t.Fatalf("open: %v (code %v), reached server: %v", err, status.Code(err), srv.hits.Load() != hits)
	}
	var oe *breaker.OpenError
	if !errors.As(err, &oe) || oe.Name != "grpc" {
		t.Fatalf("err %v does not carry the breaker", err)
	}
}

func TestStreamInterceptorPerMethod(t *testing.T) {
	s, err := breaker.NewSet("grpc", 16, breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srv, cc := start(t, grpc.WithStreamInterceptor(breakergrpc.StreamClientInterceptor(breakergrpc.PerMethod(s))))
	desc := &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}
	roundTrip := func(method string) error {
		cs, err := cc.NewStream(context.Background(), desc, method)
		if err != nil {
			return err
		}
		if err := cs.SendMsg(&emptypb.Empty{}); err != nil {
			return err
		}
		if err := cs.CloseSend(); err != nil {
			return err
		}
		if err := cs.RecvMsg(&emptypb.Empty{}); err != nil {
			return err
		}
		return cs.RecvMsg(&emptypb.Empty{}) // io.EOF: the stream ended well
	}
	if err := roundTrip("/test.Svc/A"); err != io.EOF {
		t.Fatalf("healthy stream ended with %v, want EOF", err)
	}
	if got := s.Get("/test.Svc/A").State(); got != breaker.Closed {
		t.Fatalf("after a healthy stream: %v", got)
	}
	srv.code.Store(int64(codes.Unavailable))
	if err := roundTrip("/test.Svc/A"); status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v", err)
	}
	if got := s.Get("/test.Svc/A").State(); got != breaker.Open {
		t.Fatalf("after a failed stream: %v", got)
	}
	if _, err := cc.NewStream(context.Background(), desc, "/test.Svc/A"); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("open: err = %v", err)
	}
	if got := s.Get("/test.Svc/B").State(); got != breaker.Closed {
		t.Fatalf("another method: %v", got)
	}
}

// halfOpen returns a breaker that is half-open with one probe slot. The
// tests that use it talk to a real gRPC server, whose network I/O a synctest
// bubble cannot wait for, so it runs on real time: its first open duration
// is a nanosecond, over as soon as the clock has moved, while a failed probe
// opens it again for a thousand seconds (the backoff multiplies by 10^12),
// and its half-open period lasts longer than any test.
func halfOpen(t *testing.T) *breaker.Breaker {
	t.Helper()
	b, err := breaker.New("grpc", breaker.WithConsecutiveFailures(1),
		breaker.WithOpenDuration(time.Nanosecond), breaker.WithOpenBackoff(1e12, time.Hour, 0),
		breaker.WithHalfOpen(1, 1), breaker.WithHalfOpenMaxTime(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Execute(context.Background(), func(context.Context) error { return errors.New("down") })
	for b.State() == breaker.Open {
		runtime.Gosched() // until the clock has moved a nanosecond
	}
	if got := b.State(); got != breaker.HalfOpen {
		t.Fatalf("state %v, want half-open", got)
	}
	return b
}

func TestStreamCancelledByCallerGivesProbeSlotBack(t *testing.T) {
	b := halfOpen(t)
	_, cc := start(t, grpc.WithStreamInterceptor(breakergrpc.StreamClientInterceptor(breakergrpc.Single(b))))
	desc := &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}
	ctx, cancel := context.WithCancel(context.Background())
	cs, err := cc.NewStream(ctx, desc, "/test.Svc/A")
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.SendMsg(&emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.RecvMsg(&emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	if c := b.Counts(); c.Probes != 1 {
		t.Fatalf("probes %d while the stream is open, want 1", c.Probes)
	}
	// The caller has what it wanted and walks away without reading to EOF.
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for b.Counts().Probes != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned stream still holds the only probe slot")
		}
		time.Sleep(time.Millisecond)
	}
	if got := b.State(); got != breaker.HalfOpen {
		t.Fatalf("state %v, want half-open: a cancelled stream must not count", got)
	}
	if _, err := cc.NewStream(context.Background(), desc, "/test.Svc/A"); err != nil {
		t.Fatalf("next probe: %v", err)
	}
}

func TestUnaryPanicFreesProbeSlot(t *testing.T) {
	b := halfOpen(t)
	boom := func(context.Context, string, any, any, *grpc.ClientConn, grpc.UnaryInvoker, ...grpc.CallOption) error {
		panic("boom")
	}
	_, cc := start(t, grpc.WithChainUnaryInterceptor(breakergrpc.UnaryClientInterceptor(breakergrpc.Single(b)), boom))
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the panic to go on", r)
			}
		}()
		_ = cc.Invoke(context.Background(), "/test.Svc/Call", &emptypb.Empty{}, &emptypb.Empty{})
	}()
	if got := b.State(); got != breaker.Open {
		t.Fatalf("state %v after a panicking probe, want open (a panic is a failure)", got)
	}
}
