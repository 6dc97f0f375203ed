package otelsetup

import (
	"context"
	"fmt"
	"os"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// traceExporter builds the span exporter the config names; nil means none.
func (c *config) traceExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	if c.spanExporter != nil {
		return c.spanExporter, nil
	}
	kind, err := c.exporterKind()
	if err != nil {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	switch kind {
	case ExporterNone:
		return nil, nil
	case ExporterStdout:
		w := c.writer
		if w == nil {
			w = os.Stdout
		}
		exp, err = stdouttrace.New(stdouttrace.WithWriter(w))
	case ExporterOTLPGRPC:
		// The exporter reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS,
		// _TIMEOUT, _COMPRESSION, _CERTIFICATE and _INSECURE itself.
		exp, err = otlptracegrpc.New(ctx)
	case ExporterOTLPHTTP:
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("otelsetup: %s exporter: %w", kind, err)
	}
	return exp, nil
}

// exporterKind resolves ExporterFromEnv with the variables the
// OpenTelemetry specification defines for choosing an exporter.
func (c *config) exporterKind() (Exporter, error) {
	if c.exporter != ExporterFromEnv {
		return c.exporter, nil
	}
	switch v := os.Getenv("OTEL_TRACES_EXPORTER"); v {
	case "", "otlp":
	case "console":
		return ExporterStdout, nil
	case "none":
		return ExporterNone, nil
	default:
		return "", fmt.Errorf("%w: OTEL_TRACES_EXPORTER=%q (want otlp, console or none)", ErrInvalidOption, v)
	}
	protocol := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch protocol {
	case "", "http/protobuf":
		return ExporterOTLPHTTP, nil
	case "grpc":
		return ExporterOTLPGRPC, nil
	}
	return "", fmt.Errorf("%w: OTLP protocol %q (want grpc or http/protobuf)", ErrInvalidOption, protocol)
}
