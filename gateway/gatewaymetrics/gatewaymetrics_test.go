package gatewaymetrics_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/gatewaymetrics"
	"github.com/go-microkit/microkit/internal/metricstest"
	"github.com/go-microkit/microkit/tracing"
)

func TestMetricsAndTracing(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Traceparent") == "" {
			w.WriteHeader(http.StatusBadRequest) // the trace must reach the upstream
		}
	}))
	t.Cleanup(up.Close)
	reg := prometheus.NewPedanticRegistry()
	m, err := gatewaymetrics.New(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	tr, err := tracing.New(tracing.WithTracerProvider(tp), tracing.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		t.Fatal(err)
	}
	target, _ := gateway.StaticTarget(up.URL)
	g, err := gateway.New([]gateway.Route{{Name: "order", Path: "/api/orders/{id}", Target: target}},
		gateway.WithMiddleware(m.Middleware(), tr.Middleware()),
		gateway.WithTransport(tr.Transport(nil)),
		gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	for _, p := range []string{"/api/orders/1", "/api/orders/2", "/nope"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if got := requests(t, reg, "order", "GET", "200"); got != 2 {
		t.Fatalf("order 200s = %v, want 2", got)
	}
	if got := requests(t, reg, "none", "GET", "404"); got != 1 {
		t.Fatalf("unmatched 404s = %v, want 1", got)
	}
	if err := metricstest.CheckRegistry(reg); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	found := false
	for _, n := range names {
		if n == "GET /api/orders/{id}" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no server span named after the route; spans: %q", names)
	}
	if _, err := gatewaymetrics.New(reg, nil); err == nil {
		t.Fatal("second registration accepted")
	}
	if _, err := gatewaymetrics.New(nil, nil); !errors.Is(err, gatewaymetrics.ErrInvalidOption) {
		t.Fatal("nil registerer accepted")
	}
}

// requests returns the value of microkit_gateway_requests_total with the
// given labels, from what the registry gathers.
func requests(t *testing.T, reg *prometheus.Registry, route, method, code string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"route": route, "method": method, "code": code}
	for _, f := range families {
		if f.GetName() != "microkit_gateway_requests_total" {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
