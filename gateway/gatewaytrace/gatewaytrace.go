package gatewaytrace

import (
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// Option configures Propagate.
type Option func(*transport)

// WithPropagator sets the propagator; the default is the global one
// (otel.GetTextMapPropagator, which otelsetup.Setup installs), looked up on
// every request.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(t *transport) { t.prop = p }
}

type transport struct {
	base http.RoundTripper
	prop propagation.TextMapPropagator // nil: the global one
}

// Propagate returns a RoundTripper that injects the trace context of each
// request's context into its headers and sends it with base (nil means
// http.DefaultTransport). Use it as gateway.WithTransport(
// gatewaytrace.Propagate(gateway.NewTransport())). It is safe for concurrent
// use.
func Propagate(base http.RoundTripper, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &transport{base: base}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		o(t)
	}
	return t
}

// RoundTrip injects the context and sends the request. The request is the
// gateway proxy's own outbound copy, so its headers may be set in place.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := t.prop
	if p == nil {
		p = otel.GetTextMapPropagator()
	}
	p.Inject(req.Context(), propagation.HeaderCarrier(req.Header))
	return t.base.RoundTrip(req)
}
