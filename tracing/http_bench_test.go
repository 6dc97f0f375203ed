package tracing_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// httpSetup is one setup of the HTTP benchmarks: a Tracer and the otelhttp
// options given to Middleware or Transport.
type httpSetup struct {
	name string
	tr   *tracing.Tracer
	opts []otelhttp.Option
}

// httpSetups are the setups the HTTP benchmarks run under, each with the
// no-op meter provider: the no-op tracer provider (otelhttp skipped), the
// same through otelhttp (an otelhttp option keeps every request on its
// path: what each request paid before the skip) and the SDK recording
// every span.
func httpSetups(b *testing.B) []httpSetup {
	var out []httpSetup
	for _, p := range providers(b) {
		tr, err := tracing.New(tracing.WithTracerProvider(p.tp), tracing.WithMeterProvider(metricnoop.NewMeterProvider()),
			tracing.WithPropagator(w3c))
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, httpSetup{p.name, tr, nil})
		if p.name == "noop" {
			out = append(out, httpSetup{"noop-otelhttp", tr, []otelhttp.Option{otelhttp.WithTracerProvider(p.tp)}})
		}
	}
	return out
}

const benchTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// BenchmarkMiddleware measures a request through Middleware to a ServeMux
// route, the caller's traceparent extracted.
func BenchmarkMiddleware(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, s := range httpSetups(b) {
		b.Run(s.name, func(b *testing.B) {
			h := s.tr.Middleware(s.opts...)(mux)
			req := httptest.NewRequest(http.MethodGet, "/orders/42", nil)
			req.Header.Set("Traceparent", benchTraceparent)
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}

// BenchmarkTransport measures a request through Transport, its context
// holding a caller's span context to inject, to a base transport that
// answers at once.
func BenchmarkTransport(b *testing.B) {
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})
	ctx := w3c.Extract(b.Context(), propagation.HeaderCarrier{"Traceparent": {benchTraceparent}})
	if !trace.SpanContextFromContext(ctx).IsValid() {
		b.Fatal("no span context to inject")
	}
	for _, s := range httpSetups(b) {
		b.Run(s.name, func(b *testing.B) {
			rt := s.tr.Transport(base, s.opts...)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://orders.test/orders/42", nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				_ = resp.Body.Close()
			}
		})
	}
}
