package sagatrace

import (
	"context"

	"github.com/go-microkit/microkit/saga"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the spans: the package that
// starts them on the saga's behalf names them after the saga package, so
// that they read as the saga's spans.
const ScopeName = "github.com/go-microkit/microkit/saga"

// Option configures a [Tracer] built by [New].
type Option func(*Tracer)

// WithTracerProvider makes the Tracer start its spans from tp instead of the
// global provider (otel.GetTracerProvider). A nil tp means the global one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(t *Tracer) { t.provider = tp }
}

// Tracer starts OpenTelemetry spans for the sagas an orchestrator drives;
// it implements [saga.Tracer]. It is safe for concurrent use.
type Tracer struct {
	provider trace.TracerProvider // nil: the global one
	tracer   trace.Tracer
}

var _ saga.Tracer = (*Tracer)(nil)

// New returns a Tracer configured by opts; without options it starts spans
// from the global provider, whichever is installed when a saga runs. It
// skips a nil option, as every constructor of the toolkit does.
func New(opts ...Option) (*Tracer, error) {
	t := &Tracer{}
	for _, opt := range opts {
		if opt == nil {
			continue // a nil Option is no option
		}
		opt(t)
	}
	if t.provider != nil {
		t.tracer = t.provider.Tracer(ScopeName)
	} else {
		// The global provider's tracer forwards to the SDK once one is
		// installed, even if that happens after New.
		t.tracer = otel.GetTracerProvider().Tracer(ScopeName)
	}
	return t, nil
}

// unsetGlobalProvider is the global tracer provider as it is before any
// otel.SetTracerProvider: a delegate that makes only non-recording spans.
var unsetGlobalProvider = otel.GetTracerProvider()

// StartRun starts the span of a saga run, child of the span in ctx. On the
// global provider with no SDK installed, tracing is off and the span would
// be a no-op that still costs an allocation or three: it is skipped.
func (t *Tracer) StartRun(ctx context.Context, s saga.RunSpan) (context.Context, func(saga.Status, error)) {
	// The comparison cannot panic: unsetGlobalProvider holds a pointer, and
	// interfaces with different dynamic types compare unequal.
	if t.provider == nil && otel.GetTracerProvider() == unsetGlobalProvider {
		return ctx, nil
	}
	ctx, span := t.tracer.Start(ctx, s.Name)
	if !span.IsRecording() {
		return ctx, endOnly(span)
	}
	return ctx, func(status saga.Status, err error) {
		span.SetAttributes(attribute.String("saga.id", s.SagaID), attribute.String("saga.status", string(status)))
		fail(span, err)
		span.End()
	}
}

// StartAttempt starts the span of a step attempt, child of the run's span
// in ctx, if that span is recording.
func (t *Tracer) StartAttempt(ctx context.Context, s saga.AttemptSpan) (context.Context, func(error)) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	ctx, span := t.tracer.Start(ctx, s.Name)
	span.SetAttributes(attribute.String("saga.id", s.SagaID), attribute.String("saga.step", s.Step), attribute.Int("saga.attempt", s.Attempt))
	return ctx, func(err error) {
		fail(span, err)
		span.End()
	}
}

// endOnly ends a span that records nothing.
func endOnly(span trace.Span) func(saga.Status, error) {
	return func(saga.Status, error) { span.End() }
}

// fail marks span as failed with err, if err is not nil.
func fail(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}
