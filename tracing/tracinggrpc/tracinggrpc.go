package tracinggrpc

import (
	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
)

// ServerHandler returns otelgrpc's server stats handler bound to the
// providers of tr (nil tr means [tracing.Default], the global providers): a
// SERVER span per call, continuing the caller's trace from the request
// metadata. opts are passed on to otelgrpc after the providers.
func ServerHandler(tr *tracing.Tracer, opts ...otelgrpc.Option) stats.Handler {
	return otelgrpc.NewServerHandler(options(tr, opts)...)
}

// ClientHandler returns otelgrpc's client stats handler bound to the
// providers of tr (nil tr means [tracing.Default]): a CLIENT span per call,
// its trace context injected into the request metadata.
func ClientHandler(tr *tracing.Tracer, opts ...otelgrpc.Option) stats.Handler {
	return otelgrpc.NewClientHandler(options(tr, opts)...)
}

// ServerOption returns the grpc.ServerOption that installs [ServerHandler].
func ServerOption(tr *tracing.Tracer, opts ...otelgrpc.Option) grpc.ServerOption {
	return grpc.StatsHandler(ServerHandler(tr, opts...))
}

// DialOption returns the grpc.DialOption that installs [ClientHandler].
func DialOption(tr *tracing.Tracer, opts ...otelgrpc.Option) grpc.DialOption {
	return grpc.WithStatsHandler(ClientHandler(tr, opts...))
}

func options(tr *tracing.Tracer, opts []otelgrpc.Option) []otelgrpc.Option {
	if tr == nil {
		tr = tracing.Default()
	}
	return append([]otelgrpc.Option{
		otelgrpc.WithTracerProvider(tr.TracerProvider()),
		otelgrpc.WithMeterProvider(tr.MeterProvider()),
		otelgrpc.WithPropagators(tr.Propagator()),
	}, opts...)
}
