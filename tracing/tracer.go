package tracing

import (
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of the spans this package starts,
// unless a Tracer is given a scope of its own ([WithInstrumentationScope]).
const ScopeName = "github.com/go-microkit/microkit/tracing"

// ErrInvalidOption is wrapped by the error [New] returns when an option is
// invalid, such as a scope version without a scope name.
var ErrInvalidOption = errors.New("tracing: invalid option")

// Option configures a [Tracer] built by [New].
type Option func(*config) error

type config struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	propagator     propagation.TextMapPropagator
	scopeName      string
	scopeVersion   string
}

// WithTracerProvider makes the Tracer start its spans from tp instead of the
// global provider (otel.GetTracerProvider). A nil tp means the global one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		c.tracerProvider = tp
		return nil
	}
}

// WithMeterProvider makes the HTTP and gRPC helpers record their metrics on mp
// instead of the global provider (otel.GetMeterProvider). A nil mp means the
// global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		c.meterProvider = mp
		return nil
	}
}

// WithPropagator makes the Tracer inject and extract trace context with p
// instead of the global propagator (otel.GetTextMapPropagator). A nil p
// means the global one.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) error {
		c.propagator = p
		return nil
	}
}

// WithInstrumentationScope names the instrumentation scope of the spans the
// Tracer starts itself ([Tracer.Do], [CallWith], [Traced], [TracedCall],
// [Tracer.StartPublish], [Tracer.StartProcess]), so that a service's own
// spans carry its name (its module or package path, by OpenTelemetry's
// convention) and version instead of microkit's. The HTTP and gRPC spans
// keep the scopes of otelhttp and otelgrpc, which start them.
//
// An empty name means the default, [ScopeName] with [Version]; a version
// without a name is invalid. An empty version leaves the scope unversioned.
func WithInstrumentationScope(name, version string) Option {
	return func(c *config) error {
		if name == "" && version != "" {
			return fmt.Errorf("%w: instrumentation scope version %q without a name", ErrInvalidOption, version)
		}
		c.scopeName, c.scopeVersion = name, version
		return nil
	}
}

// Tracer starts microkit's spans and carries trace context across HTTP,
// gRPC and message metadata, from explicit providers or from the global ones.
//
// The package-level functions ([Do], [Inject], [StartPublish], ...) use the
// global providers; build a Tracer with [New] when a component must use
// providers of its own (tests, multi-tenant processes).
//
// A Tracer is safe for concurrent use.
type Tracer struct {
	// Each field is nil when the Tracer follows the global provider, which it
	// then looks up on every call so that a later otel.Set… is seen.
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	propagator     propagation.TextMapPropagator
	tracer         trace.Tracer
	scopeName      string
	scopeVersion   string

	// global caches the tracer of the global provider. It is read on every
	// span start (the hot path of Do), so it is an atomic pointer rather than
	// a mutex: a load and one interface comparison.
	global atomic.Pointer[globalTracer]
}

type globalTracer struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
}

// New returns a Tracer configured by opts. Without options it follows the
// global providers, like the package-level functions.
func New(opts ...Option) (*Tracer, error) {
	var c config
	for _, opt := range opts {
		if opt == nil {
			continue // a nil Option is no option
		}
		if err := opt(&c); err != nil {
			return nil, err
		}
	}
	if c.scopeName == "" {
		c.scopeName, c.scopeVersion = ScopeName, Version
	}
	t := &Tracer{
		tracerProvider: c.tracerProvider,
		meterProvider:  c.meterProvider,
		propagator:     c.propagator,
		scopeName:      c.scopeName,
		scopeVersion:   c.scopeVersion,
	}
	if c.tracerProvider != nil {
		t.tracer = t.newTracer(c.tracerProvider)
	}
	return t, nil
}

// defaultTracer backs the package-level functions: it follows the globals.
var defaultTracer = &Tracer{scopeName: ScopeName, scopeVersion: Version}

// Default returns the Tracer behind the package-level functions, which
// follows the global OpenTelemetry providers.
func Default() *Tracer { return defaultTracer }

// newTracer returns the trace.Tracer of t's instrumentation scope from tp.
func (t *Tracer) newTracer(tp trace.TracerProvider) trace.Tracer {
	return tp.Tracer(t.scopeName, trace.WithInstrumentationVersion(t.scopeVersion))
}

// Version is the version of this instrumentation, reported as the
// instrumentation scope version of its spans unless a Tracer is given a
// scope of its own ([WithInstrumentationScope]).
const Version = "0.1.0"

// otelTracer returns the trace.Tracer to start spans with.
func (t *Tracer) otelTracer() trace.Tracer {
	if t.tracer != nil {
		return t.tracer
	}
	tp := otel.GetTracerProvider()
	if g := t.global.Load(); g != nil && g.provider == tp {
		return g.tracer
	}
	tr := t.newTracer(tp)
	// Only a comparable provider can be cached: comparing two values of one
	// uncomparable dynamic type would panic. Pointer providers (the SDK's)
	// and empty structs (noop) are comparable. The value is checked, not
	// the type: a struct type with an interface field is comparable, yet
	// panics on == when that field holds a map or a func.
	if reflect.ValueOf(tp).Comparable() {
		t.global.Store(&globalTracer{provider: tp, tracer: tr})
	}
	return tr
}

// TracerProvider returns the provider the Tracer starts spans from.
func (t *Tracer) TracerProvider() trace.TracerProvider {
	if t.tracerProvider != nil {
		return t.tracerProvider
	}
	return otel.GetTracerProvider()
}

// MeterProvider returns the provider the HTTP and gRPC helpers record
// metrics on.
func (t *Tracer) MeterProvider() metric.MeterProvider {
	if t.meterProvider != nil {
		return t.meterProvider
	}
	return otel.GetMeterProvider()
}

// The global providers as they are before any otel.SetTracerProvider and
// otel.SetMeterProvider: delegates that record nothing until a provider is
// set, after which the globals are that provider.
var (
	unsetTracerProvider = otel.GetTracerProvider()
	unsetMeterProvider  = otel.GetMeterProvider()
)

// quiet reports whether the Tracer can record nothing: its tracer provider
// and its meter provider are each OpenTelemetry's no-op one
// (go.opentelemetry.io/otel/trace/noop, go.opentelemetry.io/otel/metric/noop)
// or a global one with no SDK set. It follows the globals: once one is set,
// the Tracer is no longer quiet. The HTTP helpers then only propagate the
// trace context (see [Tracer.Middleware]).
func (t *Tracer) quiet() bool {
	// The comparisons cannot panic: the unset providers are pointers, and
	// interfaces holding different dynamic types compare unequal.
	tp := t.TracerProvider()
	switch tp.(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider:
	default:
		if tp != unsetTracerProvider {
			return false
		}
	}
	mp := t.MeterProvider()
	switch mp.(type) {
	case metricnoop.MeterProvider, *metricnoop.MeterProvider:
		return true
	}
	return mp == unsetMeterProvider
}

// Propagator returns the propagator the Tracer injects and extracts with.
func (t *Tracer) Propagator() propagation.TextMapPropagator {
	if t.propagator != nil {
		return t.propagator
	}
	return otel.GetTextMapPropagator()
}
