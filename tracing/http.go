package tracing

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Middleware returns HTTP server middleware, built on otelhttp, that runs
// each request inside a SERVER span continuing the caller's trace (from the
// traceparent header) and records otelhttp's request metrics.
//
// Spans are route-aware: when the wrapped handler is an [http.ServeMux] (or
// anything that sets [http.Request.Pattern]), the span is named
// "GET /orders/{id}" and carries the http.route attribute, rather than one
// span name per URL. opts are passed on to otelhttp, after the providers.
// Middleware uses the global providers.
func Middleware(opts ...otelhttp.Option) func(http.Handler) http.Handler {
	return defaultTracer.Middleware(opts...)
}

// Transport returns an http.RoundTripper, built on otelhttp, that runs each
// request inside a CLIENT span and injects its trace context into the request
// headers. A nil base means http.DefaultTransport. Name spans after the
// route called with [ContextWithURLTemplate]; otherwise a span is named after
// the method alone, as the HTTP conventions ask. Transport uses the global
// providers.
func Transport(base http.RoundTripper, opts ...otelhttp.Option) http.RoundTripper {
	return defaultTracer.Transport(base, opts...)
}

// Middleware returns HTTP server middleware with the Tracer's providers; see
// the package-level [Middleware].
//
// While neither provider can record anything (each is OpenTelemetry's no-op
// provider, or a global one with no SDK set) and no opts are given, a
// request skips otelhttp: its context gets the caller's trace context,
// extracted from the headers, which is all otelhttp's no-op span would
// carry, so that the calls it makes still continue the caller's trace. otelhttp would otherwise build the span's attributes and
// the metrics' attribute set of every request for nothing (some 4 µs and
// 35 allocations a request). opts are opaque and may name providers of
// their own, so with any opts every request goes through otelhttp.
func (t *Tracer) Middleware(opts ...otelhttp.Option) func(http.Handler) http.Handler {
	traced := otelhttp.NewMiddleware("", append(t.otelhttpOptions(), opts...)...)
	return func(next http.Handler) http.Handler {
		full := traced(routeAttribute(next))
		if len(opts) > 0 {
			return full
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !t.quiet() {
				full.ServeHTTP(w, r)
				return
			}
			ctx := t.Propagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// Transport returns a traced http.RoundTripper with the Tracer's providers;
// see the package-level [Transport].
//
// As with [Tracer.Middleware], while neither provider can record anything
// and no opts are given, a request skips otelhttp and gets only the trace
// context of its own context injected into its headers (on a copy of the
// request, when there is any to inject).
func (t *Tracer) Transport(base http.RoundTripper, opts ...otelhttp.Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	all := append(t.otelhttpOptions(), otelhttp.WithSpanNameFormatter(clientSpanName))
	traced := otelhttp.NewTransport(urlTemplateAttribute{base}, append(all, opts...)...)
	if len(opts) > 0 {
		return traced
	}
	return &quietTransport{t: t, traced: traced, base: base}
}

// quietTransport sends a request through otelhttp's transport, or, while
// the Tracer records nothing, straight to the base transport with the
// trace context injected.
type quietTransport struct {
	t      *Tracer
	traced *otelhttp.Transport
	base   http.RoundTripper
}

// RoundTrip sends r.
func (q *quietTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !q.t.quiet() {
		return q.traced.RoundTrip(r)
	}
	// Injected into a carrier of its own first: a RoundTripper must not
	// change the caller's request, and most requests of a program that
	// traces nothing have no trace context to carry, and need no copy.
	var c headerPairs
	q.t.Propagator().Inject(r.Context(), &c)
	if len(c) == 0 {
		return q.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	for _, kv := range c {
		r.Header.Set(kv[0], kv[1])
	}
	return q.base.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of the base transport, so
// that http.Client.CloseIdleConnections reaches it.
func (q *quietTransport) CloseIdleConnections() {
	if c, ok := q.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// headerPairs is a TextMapCarrier that only collects what is injected, in
// order, without the map a propagation.MapCarrier allocates.
type headerPairs [][2]string

// Get returns the value set last for key, or "".
func (h *headerPairs) Get(key string) string {
	for i := len(*h) - 1; i >= 0; i-- {
		if kv := (*h)[i]; kv[0] == key {
			return kv[1]
		}
	}
	return ""
}

// Set records key and value; a later Set of the same key wins, as on an
// http.Header.
func (h *headerPairs) Set(key, value string) { *h = append(*h, [2]string{key, value}) }

// Keys returns the keys set, in order.
func (h *headerPairs) Keys() []string {
	keys := make([]string, len(*h))
	for i, kv := range *h {
		keys[i] = kv[0]
	}
	return keys
}

// otelhttpOptions passes the Tracer's explicit providers to otelhttp; for
// global ones otelhttp looks them up itself.
func (t *Tracer) otelhttpOptions() []otelhttp.Option {
	var opts []otelhttp.Option
	if t.tracerProvider != nil {
		opts = append(opts, otelhttp.WithTracerProvider(t.tracerProvider))
	}
	if t.meterProvider != nil {
		opts = append(opts, otelhttp.WithMeterProvider(t.meterProvider))
	}
	if t.propagator != nil {
		opts = append(opts, otelhttp.WithPropagators(t.propagator))
	}
	return opts
}

// routeAttribute adds http.route to the server span once the mux has
// matched the request: otelhttp renames the span from the pattern but starts
// it, with its attributes, before the pattern is known.
func routeAttribute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if route := routeOf(r.Pattern); route != "" {
			trace.SpanFromContext(r.Context()).SetAttributes(semconv.HTTPRoute(route))
		}
	})
}

// routeOf returns the path part of a ServeMux pattern "[METHOD ][HOST]/PATH".
func routeOf(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}

type urlTemplateKey struct{}

// SetRoute names the server span of r after route, for routers other than
// http.ServeMux (whose routes Middleware picks up by itself): the span
// becomes "GET /orders/{id}" with the http.route attribute, and otelhttp's
// request metrics get http.route too. Call it in the handler, or in the
// router's middleware once the route is matched.
func SetRoute(r *http.Request, route string) {
	ctx := r.Context()
	kv := semconv.HTTPRoute(route)
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetName(r.Method + " " + route)
		span.SetAttributes(kv)
	}
	if l, ok := otelhttp.LabelerFromContext(ctx); ok {
		l.Add(kv)
	}
}

// ContextWithURLTemplate returns a copy of ctx that names the client spans
// of requests made with it after template, the route of the server being
// called ("/orders/{id}"): the span is "GET /orders/{id}" with the
// url.template attribute, so that calls to one route group together.
func ContextWithURLTemplate(ctx context.Context, template string) context.Context {
	return context.WithValue(ctx, urlTemplateKey{}, template)
}

func urlTemplate(ctx context.Context) string {
	s, _ := ctx.Value(urlTemplateKey{}).(string)
	return s
}

// clientSpanName is "{method} {url.template}", or "{method}" alone.
func clientSpanName(_ string, r *http.Request) string {
	if tmpl := urlTemplate(r.Context()); tmpl != "" {
		return r.Method + " " + tmpl
	}
	return r.Method
}

// urlTemplateAttribute runs inside otelhttp's transport, where the request
// context holds the client span, and adds url.template to it.
type urlTemplateAttribute struct{ base http.RoundTripper }

// RoundTrip tags the span and sends r on the base transport.
func (u urlTemplateAttribute) RoundTrip(r *http.Request) (*http.Response, error) {
	if tmpl := urlTemplate(r.Context()); tmpl != "" {
		trace.SpanFromContext(r.Context()).SetAttributes(semconv.URLTemplate(tmpl))
	}
	return u.base.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of the base transport, so
// that http.Client.CloseIdleConnections still reaches it.
func (u urlTemplateAttribute) CloseIdleConnections() {
	if c, ok := u.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
