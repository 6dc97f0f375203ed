package gatewaytrace_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/gatewaytrace"
	"github.com/go-microkit/microkit/tracing"
)

// TestUpstreamContinuesTheGatewayTrace: the upstream receives a traceparent
// whose trace is the gateway's server span's, and whose parent is that span.
func TestUpstreamContinuesTheGatewayTrace(t *testing.T) {
	got := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Traceparent")
	}))
	t.Cleanup(up.Close)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	tc := propagation.TraceContext{}
	tr, err := tracing.New(tracing.WithTracerProvider(tp), tracing.WithPropagator(tc))
	if err != nil {
		t.Fatal(err)
	}
	target, _ := gateway.StaticTarget(up.URL)
	g, err := gateway.New([]gateway.Route{{Path: "/api/orders/{id}", Target: target}},
		gateway.WithMiddleware(tr.Middleware()),
		gateway.WithTransport(gatewaytrace.Propagate(gateway.NewTransport(), gatewaytrace.WithPropagator(tc))),
		gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/api/orders/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	traceparent := <-got
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "GET /api/orders/{id}" {
		t.Fatalf("spans %v, want the one server span named after the route", spans)
	}
	sc := spans[0].SpanContext()
	want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-"
	if !strings.HasPrefix(traceparent, want) {
		t.Fatalf("upstream got traceparent %q, want it to start with %q", traceparent, want)
	}
}

func TestGlobalPropagatorAndDefaultBase(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(up.Close)
	req, _ := http.NewRequest("GET", up.URL, nil)
	resp, err := gatewaytrace.Propagate(nil).RoundTrip(req) // no span: injects nothing, still sends
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || req.Header.Get("Traceparent") != "" {
		t.Fatalf("status %d, traceparent %q", resp.StatusCode, req.Header.Get("Traceparent"))
	}
}
