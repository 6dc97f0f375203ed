package otelsetup

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// ErrInvalidOption is wrapped by the error [Setup] returns when an option,
// or an OTEL_ variable it reads, is invalid.
var ErrInvalidOption = errors.New("otelsetup: invalid option")

// Exporter names where spans go.
type Exporter string

// The exporters [Setup] can build.
const (
	// ExporterFromEnv, the default, reads the standard variables:
	// OTEL_TRACES_EXPORTER ("otlp" when unset, "console" or "none"), and
	// for otlp OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
	// OTEL_EXPORTER_OTLP_PROTOCOL ("http/protobuf" when unset, or "grpc").
	ExporterFromEnv Exporter = ""
	// ExporterOTLPGRPC sends spans by OTLP over gRPC. Endpoint, headers,
	// TLS and timeout come from the OTEL_EXPORTER_OTLP_* variables
	// (default localhost:4317).
	ExporterOTLPGRPC Exporter = "otlp-grpc"
	// ExporterOTLPHTTP sends spans by OTLP over HTTP with protobuf bodies,
	// configured by the OTEL_EXPORTER_OTLP_* variables (default
	// localhost:4318).
	ExporterOTLPHTTP Exporter = "otlp-http"
	// ExporterStdout writes spans as JSON to the writer of [WithWriter]
	// (standard output by default), for local runs.
	ExporterStdout Exporter = "stdout"
	// ExporterNone exports nothing; spans are still created, so trace
	// context still propagates to the next hop.
	ExporterNone Exporter = "none"
)

// Option configures [Setup].
type Option func(*config) error

type config struct {
	serviceName    string
	serviceVersion string
	instanceID     string
	attributes     []attribute.KeyValue
	exporter       Exporter
	spanExporter   sdktrace.SpanExporter
	writer         io.Writer
	sampler        sdktrace.Sampler
	registerer     prometheus.Registerer
	logger         *slog.Logger
}

// WithServiceName sets service.name. The variable OTEL_SERVICE_NAME, when
// set, overrides it so operators can rename a service without a rebuild.
// Zero means the executable's name.
func WithServiceName(name string) Option {
	return func(c *config) error {
		if name == "" {
			return fmt.Errorf("%w: empty service name", ErrInvalidOption)
		}
		c.serviceName = name
		return nil
	}
}

// WithServiceVersion sets service.version. Zero means the main module's
// version from the build info, when it has one.
func WithServiceVersion(version string) Option {
	return func(c *config) error {
		c.serviceVersion = version
		return nil
	}
}

// WithInstanceID sets service.instance.id, which tells replicas of a
// service apart. Zero means a random UUID per Setup.
func WithInstanceID(id string) Option {
	return func(c *config) error {
		c.instanceID = id
		return nil
	}
}

// WithResourceAttributes adds attributes to the resource, such as
// deployment.environment.name. OTEL_RESOURCE_ATTRIBUTES overrides them.
func WithResourceAttributes(kvs ...attribute.KeyValue) Option {
	return func(c *config) error {
		c.attributes = append(c.attributes, kvs...)
		return nil
	}
}

// WithExporter chooses where spans go; see [Exporter]. An unknown name is
// invalid.
func WithExporter(e Exporter) Option {
	return func(c *config) error {
		switch e {
		case ExporterFromEnv, ExporterOTLPGRPC, ExporterOTLPHTTP, ExporterStdout, ExporterNone:
			c.exporter = e
			return nil
		}
		return fmt.Errorf("%w: unknown exporter %q", ErrInvalidOption, string(e))
	}
}

// WithSpanExporter sends spans to exp, such as an exporter of a vendor,
// instead of the one [WithExporter] names. A nil exp means the one
// [WithExporter] names.
func WithSpanExporter(exp sdktrace.SpanExporter) Option {
	return func(c *config) error {
		c.spanExporter = exp
		return nil
	}
}

// WithWriter sets where [ExporterStdout] writes. A nil w means os.Stdout,
// the default.
func WithWriter(w io.Writer) Option {
	return func(c *config) error {
		c.writer = w
		return nil
	}
}

// WithSampler sets the sampler. Zero (and nil) means the SDK's default,
// parent-based always-on, which OTEL_TRACES_SAMPLER overrides.
func WithSampler(s sdktrace.Sampler) Option {
	return func(c *config) error {
		c.sampler = s
		return nil
	}
}

// WithPrometheus makes the MeterProvider's metrics (otelhttp's and
// otelgrpc's request durations, for instance) readable through reg, which
// tracing.Handler then serves on /metrics. Without it the MeterProvider
// records nothing, which is also what a nil reg means.
func WithPrometheus(reg prometheus.Registerer) Option {
	return func(c *config) error {
		c.registerer = reg
		return nil
	}
}

// WithLogger sets the logger that OpenTelemetry's internal errors (a failed
// export, for instance) go to. Zero (and nil) means slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			l = slog.Default()
		}
		c.logger = l
		return nil
	}
}
