package breakergrpc_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/breaker/breakergrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// outcomes is a breaker.Observer that hands every recorded outcome to the
// test.
type outcomes chan breaker.Outcome

func (o outcomes) Call(out breaker.Outcome, _ bool)               { o <- out }
func (o outcomes) Transition(context.Context, breaker.Transition) {}

// next returns the next outcome recorded; the wait is bounded only so that
// a call that never counts fails the test instead of hanging it.
func (o outcomes) next(t *testing.T) breaker.Outcome {
	t.Helper()
	select {
	case out := <-o:
		return out
	case <-time.After(10 * time.Second):
		t.Fatal("no outcome recorded")
		return 0
	}
}

// observed returns a breaker that one failure opens, and the outcomes it
// records.
func observed(t *testing.T) (*breaker.Breaker, outcomes) {
	t.Helper()
	got := make(outcomes, 4)
	b, err := breaker.New("grpc", breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(time.Hour),
		breaker.WithObserver(func(string) breaker.Observer { return got }))
	if err != nil {
		t.Fatal(err)
	}
	return b, got
}

// blockingServer answers every call with code, or, with code Unknown,
// tells arrived that the call reached it and waits until the client gives
// up on it.
type blockingServer struct {
	code    codes.Code
	arrived chan struct{}
}

func (s *blockingServer) handle(_ any, stream grpc.ServerStream) error {
	if err := stream.RecvMsg(&emptypb.Empty{}); err != nil {
		return err
	}
	if s.code == codes.Unknown {
		s.arrived <- struct{}{}
		<-stream.Context().Done()
		return status.FromContextError(stream.Context().Err()).Err()
	}
	if s.code != codes.OK {
		return status.Error(s.code, s.code.String())
	}
	return stream.SendMsg(&emptypb.Empty{})
}

// expiring is a caller's context whose deadline the test makes pass at the
// moment it chooses, so that "passed while in flight" needs no sleeping.
type expiring struct {
	context.Context
	done chan struct{}
	mu   sync.Mutex
	err  error
}

func newExpiring() *expiring {
	return &expiring{Context: context.Background(), done: make(chan struct{})}
}

func (c *expiring) Done() <-chan struct{} { return c.done }

func (c *expiring) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *expiring) expire() {
	c.mu.Lock()
	c.err = context.DeadlineExceeded
	c.mu.Unlock()
	close(c.done)
}

// The interceptors judge a call as package breaker does: the caller's own
// cancellation, before or during the call, and a ctx that had already
// ended when the call started do not count; a deadline that passes while
// the call is in flight, like the server's own DeadlineExceeded, is a
// failure. Every row runs through a real gRPC server on loopback, as a
// unary call and as a stream.
func TestOutcomeFollowsTheBreakerRule(t *testing.T) {
	past, cancelPast := context.WithDeadline(context.Background(), time.Now().Add(-time.Hour))
	defer cancelPast()
	tests := []struct {
		name string
		code codes.Code // the server's answer; Unknown: wait for the client
		// ctx returns the caller's context and, for in-flight rows, what
		// ends it once the call reached the server.
		ctx  func() (context.Context, func())
		want breaker.Outcome
		got  codes.Code
	}{
		{"success", codes.OK, background, breaker.Success, codes.OK},
		{"server unavailable", codes.Unavailable, background, breaker.Failure, codes.Unavailable},
		{"server's own deadline", codes.DeadlineExceeded, background, breaker.Failure, codes.DeadlineExceeded},
		{"server's own cancellation", codes.Canceled, background, breaker.Ignored, codes.Canceled},
		{"caller mistake", codes.InvalidArgument, background, breaker.Success, codes.InvalidArgument},
		{"cancelled before the call", codes.OK, func() (context.Context, func()) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, nil
		}, breaker.Ignored, codes.Canceled},
		{"deadline passed before the call", codes.OK, func() (context.Context, func()) { return past, nil }, breaker.Ignored, codes.DeadlineExceeded},
		{"cancelled in flight", codes.Unknown, func() (context.Context, func()) {
			return context.WithCancel(context.Background())
		}, breaker.Ignored, codes.Canceled},
		{"deadline passed in flight", codes.Unknown, func() (context.Context, func()) {
			ctx := newExpiring()
			return ctx, ctx.expire
		}, breaker.Failure, codes.DeadlineExceeded},
	}
	for _, tt := range tests {
		for _, kind := range []string{"unary", "stream"} {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				b, got := observed(t)
				srv := &blockingServer{code: tt.code, arrived: make(chan struct{}, 1)}
				cc := serve(t, srv.handle,
					grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptor(breakergrpc.Single(b))),
					grpc.WithStreamInterceptor(breakergrpc.StreamClientInterceptor(breakergrpc.Single(b))))
				ctx, end := tt.ctx()
				if end != nil {
					go func() {
						<-srv.arrived
						end()
					}()
				}
				var callErr error
				if kind == "unary" {
					callErr = cc.Invoke(ctx, "/test.Svc/Call", &emptypb.Empty{}, &emptypb.Empty{})
				} else {
					callErr = streamCall(ctx, cc)
				}
				if status.Code(callErr) != tt.got {
					t.Fatalf("call: %v, want code %v", callErr, tt.got)
				}
				if o := got.next(t); o != tt.want {
					t.Fatalf("outcome %v, want %v", o, tt.want)
				}
				if wantState := map[bool]breaker.State{true: breaker.Open, false: breaker.Closed}[tt.want == breaker.Failure]; b.State() != wantState {
					t.Fatalf("state %v, want %v", b.State(), wantState)
				}
				select {
				case o := <-got:
					t.Fatalf("a second outcome %v for one call", o)
				default:
				}
			})
		}
	}
}

func background() (context.Context, func()) { return context.Background(), nil }

// streamCall sends one message on a bidirectional stream and reads the
// answer to the end.
func streamCall(ctx context.Context, cc *grpc.ClientConn) error {
	cs, err := cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/test.Svc/Stream")
	if err != nil {
		return err
	}
	// A failed send returns io.EOF; the real error comes from RecvMsg.
	_ = cs.SendMsg(&emptypb.Empty{})
	if err := cs.CloseSend(); err != nil {
		return err
	}
	for {
		if err := cs.RecvMsg(&emptypb.Empty{}); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// A stream whose caller stops reading counts when its ctx ends: ignored
// when the caller cancelled it, a failure when its deadline passed, without
// another RecvMsg.
func TestAbandonedStreamCountsWhenItsContextEnds(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, func())
		want breaker.Outcome
	}{
		{"cancelled", func() (context.Context, func()) { return context.WithCancel(context.Background()) }, breaker.Ignored},
		{"deadline passed", func() (context.Context, func()) {
			ctx := newExpiring()
			return ctx, ctx.expire
		}, breaker.Failure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, got := observed(t)
			srv := &blockingServer{code: codes.Unknown, arrived: make(chan struct{}, 1)}
			cc := serve(t, srv.handle, grpc.WithStreamInterceptor(breakergrpc.StreamClientInterceptor(breakergrpc.Single(b))))
			ctx, end := tt.ctx()
			cs, err := cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/test.Svc/Stream")
			if err != nil {
				t.Fatal(err)
			}
			if err := cs.SendMsg(&emptypb.Empty{}); err != nil {
				t.Fatal(err)
			}
			<-srv.arrived
			end() // and never read again
			if o := got.next(t); o != tt.want {
				t.Fatalf("outcome %v, want %v", o, tt.want)
			}
		})
	}
}
