package tracing

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Do runs fn inside a span called name, the Go form of a @traced method:
// fn receives a ctx that holds the span, so that spans fn starts are its
// children. When fn returns an error, the span records it as an exception
// and gets status Error. When fn returns nil, Do leaves the status Unset:
// by OpenTelemetry's convention instrumentation does not claim success,
// which is the application's call; fn may set it with
// trace.SpanFromContext(ctx).SetStatus(codes.Ok, ""), and Do keeps it. When
// fn panics, the span records the panic, gets status Error and ends, and
// the panic continues up the stack.
//
// opts are passed to the span start, e.g. trace.WithAttributes or
// trace.WithSpanKind. Do uses the global providers; with none installed it
// costs one no-op span start.
func Do(ctx context.Context, name string, fn func(context.Context) error, opts ...trace.SpanStartOption) error {
	return defaultTracer.Do(ctx, name, fn, opts...)
}

// Call is [Do] for a function that returns a value: it runs fn inside a span
// called name and returns what fn returns.
func Call[T any](ctx context.Context, name string, fn func(context.Context) (T, error), opts ...trace.SpanStartOption) (T, error) {
	return CallWith(ctx, defaultTracer, name, fn, opts...)
}

// CallWith is [Call] with spans from t instead of the global provider. A nil
// t means [Default].
func CallWith[T any](ctx context.Context, t *Tracer, name string, fn func(context.Context) (T, error), opts ...trace.SpanStartOption) (T, error) {
	if t == nil {
		t = defaultTracer
	}
	ctx, span := t.otelTracer().Start(ctx, name, opts...)
	returned := false
	defer func() {
		if !returned {
			endAbnormally(span, recover())
		}
	}()
	v, err := fn(ctx)
	returned = true
	finish(span, err)
	return v, err
}

// Do runs fn inside a span from t; see the package-level [Do].
func (t *Tracer) Do(ctx context.Context, name string, fn func(context.Context) error, opts ...trace.SpanStartOption) error {
	ctx, span := t.otelTracer().Start(ctx, name, opts...)
	// A flag rather than span.IsRecording tells a normal return from a panic:
	// the SDK's IsRecording takes a lock.
	returned := false
	defer func() {
		if !returned {
			endAbnormally(span, recover())
		}
	}()
	err := fn(ctx)
	returned = true
	finish(span, err)
	return err
}

// Traced returns a function of fn's shape that runs fn inside a span called
// name from t, as [Tracer.Do] does: the decorator applied once, where a
// function value is stored or handed on (a handler in a table, a
// dependency given as a func) rather than called in place. A nil t means
// [Default], the global providers. opts are passed to every span start.
func Traced(t *Tracer, name string, fn func(context.Context) error, opts ...trace.SpanStartOption) func(context.Context) error {
	if t == nil {
		t = defaultTracer
	}
	return func(ctx context.Context) error { return t.Do(ctx, name, fn, opts...) }
}

// TracedCall is [Traced] for a function that takes an argument and returns
// a value, the shape of a request handler or a repository method: each call
// of the returned function runs fn inside a span called name from t, as
// [CallWith] does, and returns what fn returns.
func TracedCall[A, R any](t *Tracer, name string, fn func(context.Context, A) (R, error), opts ...trace.SpanStartOption) func(context.Context, A) (R, error) {
	return func(ctx context.Context, a A) (R, error) {
		// CallWith only calls its fn, so this closure stays on the stack.
		return CallWith(ctx, t, name, func(ctx context.Context) (R, error) { return fn(ctx, a) }, opts...)
	}
}

// finish records err, if any, and ends span.
func finish(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// endAbnormally ends the span of a function that did not return. When it
// panicked with r, the span records the panic and ends, and the panic goes
// on with the same value; this runs in a deferred call on the panicking
// goroutine's stack, so the crash report still shows where the panic
// began. When r is nil the function called runtime.Goexit (as t.FailNow
// does): the span ends with status Error and the goroutine goes on exiting.
func endAbnormally(span trace.Span, r any) {
	if r == nil {
		span.SetStatus(codes.Error, "goroutine exited (runtime.Goexit)")
		span.End()
		return
	}
	err, ok := r.(error)
	if !ok {
		err = fmt.Errorf("%v", r)
	}
	span.RecordError(err, trace.WithStackTrace(true))
	span.SetStatus(codes.Error, "panic: "+err.Error())
	span.End()
	panic(r)
}
