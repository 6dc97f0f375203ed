package otelsetup

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"

	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// Setup builds the OpenTelemetry SDK for a service and installs it as the
// global TracerProvider, MeterProvider and propagator (W3C trace context and
// baggage). It returns shutdown, which flushes buffered spans and stops the
// providers: defer it in main with a context that bounds how long the flush
// may take. Shutdown is idempotent and safe for concurrent use.
//
// Without options, spans go where the standard OTEL_ variables say (OTLP
// over HTTP to localhost:4318 when none is set); see [Exporter]. The
// resource carries service.name, service.version and service.instance.id;
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override them.
//
// Call Setup once per process: the globals it installs are process-wide.
func Setup(ctx context.Context, opts ...Option) (shutdown func(context.Context) error, err error) {
	c := config{logger: slog.Default()}
	for _, opt := range opts {
		if opt == nil {
			continue // a nil Option is no option
		}
		if err := opt(&c); err != nil {
			return nil, err
		}
	}

	res, err := c.resource(ctx)
	if err != nil {
		return nil, err
	}
	exp, err := c.traceExporter(ctx)
	if err != nil {
		return nil, err
	}

	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if exp != nil {
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	if c.sampler != nil {
		tpOpts = append(tpOpts, sdktrace.WithSampler(c.sampler))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)

	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	if c.registerer != nil {
		reader, err := otelprom.New(otelprom.WithRegisterer(c.registerer))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("otelsetup: prometheus exporter: %w", err), tp.Shutdown(ctx))
		}
		mpOpts = append(mpOpts, sdkmetric.WithReader(reader))
	}
	mp := sdkmetric.NewMeterProvider(mpOpts...)

	logger := c.logger
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry", "err", err)
	}))
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{},
	))

	var (
		once        sync.Once
		shutdownErr error
	)
	return func(ctx context.Context) error {
		once.Do(func() {
			// Spans first: their export may still record metrics.
			if err := errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx)); err != nil {
				shutdownErr = fmt.Errorf("otelsetup: shutdown: %w", err)
			}
		})
		return shutdownErr
	}, nil
}

// resource describes the service. Detectors later in the list win, so the
// environment overrides the options, which override the defaults.
func (c *config) resource(ctx context.Context) (*resource.Resource, error) {
	name := c.serviceName
	if name == "" {
		name = filepath.Base(os.Args[0])
	}
	version := c.serviceVersion
	if version == "" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
	}
	id := c.instanceID
	if id == "" {
		id = rand.Text()
	}
	attrs := append([]resource.Option{
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(name), semconv.ServiceInstanceID(id)),
	}, resource.WithAttributes(c.attributes...))
	if version != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceVersion(version)))
	}
	res, err := resource.New(ctx, append(attrs, resource.WithFromEnv())...)
	if errors.Is(err, resource.ErrPartialResource) {
		// A malformed OTEL_RESOURCE_ATTRIBUTES entry should not keep a
		// service from starting: keep what parsed and say what did not.
		c.logger.Warn("otelsetup: resource partly built", "err", err)
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("otelsetup: resource: %w", err)
	}
	return res, nil
}
