package tracing_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// hop is one request through a traced server whose handler calls
// downstream through a traced client: what the server's handler saw and
// what reached the downstream service.
type hop struct {
	handlerSC  trace.SpanContext
	downstream http.Header
	// callerHeaders is the header of the request the handler gave the
	// client, after the call: a RoundTripper must leave it as it was.
	callerHeaders http.Header
}

// throughHop serves one GET /orders/{id} with in's headers behind tr's
// Middleware; the handler calls downstream through tr's Transport.
func throughHop(t *testing.T, tr *tracing.Tracer, in http.Header) hop {
	t.Helper()
	var h hop
	client := &http.Client{Transport: tr.Transport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		h.downstream = r.Header.Clone()
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
	}))}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		h.handlerSC = trace.SpanContextFromContext(r.Context())
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://payments.test/charges/1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		h.callerHeaders = req.Header
		w.WriteHeader(http.StatusNoContent)
	})
	req := httptest.NewRequest(http.MethodGet, "/orders/42", nil)
	for k, v := range in {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	tr.Middleware()(mux).ServeHTTP(w, req)
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d, want 204", w.Code)
	}
	return h
}

// With providers that record nothing, the middleware and the transport
// skip otelhttp, yet a request continues its caller's trace exactly as
// through otelhttp: the handler sees the caller's span context and the
// downstream call carries the same traceparent and baggage. A meter
// provider that records keeps every request on otelhttp's path, metrics
// included.
func TestHTTPWithNothingRecordedStillPropagates(t *testing.T) {
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	incoming := http.Header{"Traceparent": {traceparent}, "Baggage": {"tenant=acme"}}
	wantTrace, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	wantSpan, _ := trace.SpanIDFromHex("00f067aa0ba902b7")

	reader := sdkmetric.NewManualReader()
	recording := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = recording.Shutdown(t.Context()) })

	for _, tc := range []struct {
		name    string
		meter   metric.MeterProvider
		metrics bool // otelhttp's metrics are recorded
	}{
		{"no-op meter: otelhttp skipped", metricnoop.NewMeterProvider(), false},
		{"recording meter: through otelhttp", recording, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := tracing.New(tracing.WithTracerProvider(tracenoop.NewTracerProvider()),
				tracing.WithMeterProvider(tc.meter), tracing.WithPropagator(w3c))
			if err != nil {
				t.Fatal(err)
			}
			h := throughHop(t, tr, incoming)
			if h.handlerSC.TraceID() != wantTrace || h.handlerSC.SpanID() != wantSpan || !h.handlerSC.IsRemote() || !h.handlerSC.IsSampled() {
				t.Errorf("handler's span context = %v/%v remote %v sampled %v, want the caller's %v/%v, remote and sampled",
					h.handlerSC.TraceID(), h.handlerSC.SpanID(), h.handlerSC.IsRemote(), h.handlerSC.IsSampled(), wantTrace, wantSpan)
			}
			if got := h.downstream.Get("Traceparent"); got != traceparent {
				t.Errorf("downstream traceparent = %q, want %q", got, traceparent)
			}
			if got := h.downstream.Get("Baggage"); got != "tenant=acme" {
				t.Errorf("downstream baggage = %q, want %q", got, "tenant=acme")
			}
			if got := h.downstream.Get("Accept"); got != "application/json" {
				t.Errorf("downstream lost the caller's own header: Accept = %q", got)
			}
			if got := h.callerHeaders.Get("Traceparent"); got != "" {
				t.Errorf("the transport changed the caller's request: traceparent %q", got)
			}

			var rm metricdata.ResourceMetrics
			if err := reader.Collect(t.Context(), &rm); err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					names[m.Name] = true
				}
			}
			for _, name := range []string{"http.server.request.duration", "http.client.request.duration"} {
				if names[name] != tc.metrics {
					t.Errorf("metric %s recorded: %v, want %v", name, names[name], tc.metrics)
				}
			}
		})
	}
}

// A request that comes with no trace context goes downstream with none,
// whether or not anything records, and the handler sees no valid span
// context.
func TestHTTPWithNothingRecordedAndNoTraceContext(t *testing.T) {
	tr, err := tracing.New(tracing.WithTracerProvider(tracenoop.NewTracerProvider()),
		tracing.WithMeterProvider(metricnoop.NewMeterProvider()), tracing.WithPropagator(w3c))
	if err != nil {
		t.Fatal(err)
	}
	h := throughHop(t, tr, nil)
	if h.handlerSC.IsValid() {
		t.Errorf("handler's span context = %v, want none", h.handlerSC)
	}
	if got := h.downstream.Get("Traceparent"); got != "" {
		t.Errorf("downstream traceparent = %q, want none", got)
	}
}

// A tracer provider that records keeps the request on otelhttp's path even
// with a no-op meter: both spans are recorded, in one trace.
func TestHTTPWithRecordingTracerAndNoopMeter(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	tr, err := tracing.New(tracing.WithTracerProvider(tp), tracing.WithMeterProvider(metricnoop.NewMeterProvider()),
		tracing.WithPropagator(w3c))
	if err != nil {
		t.Fatal(err)
	}
	h := throughHop(t, tr, http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans recorded, want the server's and the client's", len(spans))
	}
	for _, s := range spans {
		if s.SpanContext().TraceID() != h.handlerSC.TraceID() {
			t.Errorf("span %q in trace %v, want %v", s.Name(), s.SpanContext().TraceID(), h.handlerSC.TraceID())
		}
	}
	if got := h.downstream.Get("Traceparent"); !strings.Contains(got, h.handlerSC.TraceID().String()) || strings.Contains(got, "00f067aa0ba902b7") {
		t.Errorf("downstream traceparent = %q, want the client span's, in trace %v", got, h.handlerSC.TraceID())
	}
}
