package breakergrpc

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/go-microkit/microkit/breaker"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Picker chooses the breaker for a call to method on cc.
type Picker func(ctx context.Context, method string, cc *grpc.ClientConn) *breaker.Breaker

// Single returns a Picker that uses b for every call.
func Single(b *breaker.Breaker) Picker {
	return func(context.Context, string, *grpc.ClientConn) *breaker.Breaker { return b }
}

// PerMethod returns a Picker with one breaker per full method name
// ("/pkg.Service/Method") from s, so that one broken method does not cut
// off the others.
func PerMethod(s *breaker.Set) Picker {
	return func(_ context.Context, method string, _ *grpc.ClientConn) *breaker.Breaker { return s.Get(method) }
}

// Classifier says how a call's error counts for the breaker.
type Classifier func(err error) breaker.Outcome

// Classify is the default [Classifier]: nil is a success; Unavailable,
// DeadlineExceeded, ResourceExhausted and Internal are failures; Canceled
// is ignored; every other code (InvalidArgument, NotFound,
// PermissionDenied, ...) is the caller's problem and counts as a success.
// Errors that carry no status are failures unless they are
// context.Canceled.
func Classify(err error) breaker.Outcome {
	if err == nil {
		return breaker.Success
	}
	s, ok := status.FromError(err)
	if !ok {
		return breaker.DefaultClassifier(err)
	}
	switch s.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal:
		return breaker.Failure
	case codes.Canceled:
		return breaker.Ignored
	}
	return breaker.Success
}

// Option configures an interceptor.
type Option func(*options)

type options struct {
	classify Classifier
}

// WithClassifier replaces [Classify]; nil keeps Classify.
func WithClassifier(c Classifier) Option {
	return func(o *options) {
		if c != nil {
			o.classify = c
		}
	}
}

func newOptions(opts []Option) options {
	o := options{classify: Classify}
	for _, opt := range opts {
		if opt == nil {
			continue // a nil Option is no option
		}
		opt(&o)
	}
	return o
}

// OpenError is the error a call rejected by an open breaker gets: gRPC
// status Unavailable (status.Code reports it) that also matches
// breaker.ErrOpen or breaker.ErrTooManyProbes with errors.Is.
type OpenError struct {
	// Err is the breaker's *breaker.OpenError.
	Err error
}

// Error returns the breaker's message.
func (e *OpenError) Error() string { return e.Err.Error() }

// Unwrap returns the breaker's error.
func (e *OpenError) Unwrap() error { return e.Err }

// GRPCStatus reports codes.Unavailable, so that gRPC-aware callers and
// retry policies treat a rejection like an unreachable server.
func (e *OpenError) GRPCStatus() *status.Status {
	return status.New(codes.Unavailable, e.Err.Error())
}

// outcome classifies err by the breaker package's rule: a call whose
// caller cancelled ctx does not count, nor one whose ctx had already ended
// when it started (expiredAtStart: the caller's time was spent before the
// server saw the call, and gRPC fails it with DeadlineExceeded without
// sending it). A deadline that passes while the call is in flight counts
// as a failure by Classify: a hung server shows itself exactly that way.
func (o *options) outcome(ctx context.Context, err error, expiredAtStart bool) breaker.Outcome {
	if err != nil && (expiredAtStart || errors.Is(ctx.Err(), context.Canceled)) {
		return breaker.Ignored
	}
	return o.classify(err)
}

// ended reports whether ctx is already done.
func ended(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// UnaryClientInterceptor returns an interceptor that sends each unary call
// through the breaker pick chooses.
func UnaryClientInterceptor(pick Picker, opts ...Option) grpc.UnaryClientInterceptor {
	o := newOptions(opts)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		pm, err := pick(ctx, method, cc).Acquire()
		if err != nil {
			return &OpenError{Err: err}
		}
		// A panic in a later interceptor counts as a failure, so that a
		// half-open probe slot is not held until the half-open time runs out.
		finished := false
		defer func() {
			if !finished {
				pm.Record(ctx, breaker.Failure, 0)
			}
		}()
		expired := ended(ctx)
		err = invoker(ctx, method, req, reply, cc, callOpts...)
		finished = true
		pm.Record(ctx, o.outcome(ctx, err, expired), 0)
		return err
	}
}

// StreamClientInterceptor returns an interceptor that sends each stream
// through the breaker pick chooses. A stream counts once: by the error
// that fails to open it, or when it ends, by the error RecvMsg returns
// (io.EOF being a success) or SendMsg returns, or when its ctx ends first.
// A stream the caller abandons by cancelling its ctx, without reading it to
// the end, counts as ignored, so that a half-open probe gives its slot
// back; one whose deadline passes first counts as a failure; a stream
// abandoned with a ctx that never ends holds its slot until the breaker's
// half-open time runs out.
func StreamClientInterceptor(pick Picker, opts ...Option) grpc.StreamClientInterceptor {
	o := newOptions(opts)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
		pm, err := pick(ctx, method, cc).Acquire()
		if err != nil {
			return nil, &OpenError{Err: err}
		}
		expired := ended(ctx)
		cs, err := streamer(ctx, desc, cc, method, callOpts...)
		if err != nil {
			pm.Record(ctx, o.outcome(ctx, err, expired), 0)
			return nil, err
		}
		// The outcome is judged against the caller's ctx: the stream's own
		// context is cancelled whenever the stream ends, even by an error.
		s := &stream{ClientStream: cs, report: func(err error) {
			pm.Record(ctx, o.outcome(ctx, err, expired), 0)
		}}
		// A caller that stops reading when ctx ends would otherwise never
		// report. ctx's end is the stream's end, judged as gRPC reports
		// it: a cancellation is ignored, a deadline that passed in flight
		// is a failure (a stream not done in the time it was given), as
		// RecvMsg would have said.
		s.stop = context.AfterFunc(ctx, func() {
			if s.done.CompareAndSwap(false, true) {
				s.report(status.FromContextError(ctx.Err()).Err())
			}
		})
		return s, nil
	}
}

// stream reports its outcome to the breaker once, when it ends or its
// caller cancels it.
type stream struct {
	grpc.ClientStream
	report func(err error)
	stop   func() bool // stops watching the caller's ctx
	done   atomic.Bool
}

func (s *stream) finish(err error) {
	if s.done.CompareAndSwap(false, true) {
		s.stop()
		if err == io.EOF {
			err = nil
		}
		s.report(err)
	}
}

// RecvMsg receives a message; an error (io.EOF included) ends the stream.
func (s *stream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.finish(err)
	}
	return err
}

// SendMsg sends a message; an error other than io.EOF ends the stream
// (io.EOF means the real error comes from RecvMsg).
func (s *stream) SendMsg(m any) error {
	err := s.ClientStream.SendMsg(m)
	if err != nil && err != io.EOF {
		s.finish(err)
	}
	return err
}
