package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
)

// newOrderServer serves GET /orders/{id} behind the tracing middleware; the
// handler starts a child span of its own with Do.
func newOrderServer(t *testing.T, tr *tracing.Tracer) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		err := tr.Do(r.Context(), "LoadOrder", func(ctx context.Context) error { return nil })
		if err != nil || r.PathValue("id") == "missing" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "order "+r.PathValue("id"))
	})
	srv := httptest.NewServer(tr.Middleware()(mux))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPClientToServerIsOneTrace(t *testing.T) {
	tr, rec, _ := newRecorded(t)
	srv := newOrderServer(t, tr)
	client := &http.Client{Transport: tr.Transport(nil)}
	t.Cleanup(client.CloseIdleConnections)

	err := tr.Do(t.Context(), "Checkout", func(ctx context.Context) error {
		ctx = tracing.ContextWithURLTemplate(ctx, "/orders/{id}")
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/orders/42", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if string(body) != "order 42" {
			t.Errorf("body = %q, want %q", body, "order 42")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	checkout := spanNamed(t, rec, "Checkout")
	c := spanOfKind(t, rec, "GET /orders/{id}", trace.SpanKindClient)
	s := spanOfKind(t, rec, "GET /orders/{id}", trace.SpanKindServer)
	load := spanNamed(t, rec, "LoadOrder")

	for _, step := range []struct {
		what          string
		child, parent trace.SpanContext
	}{
		{"client span under Checkout", c.Parent(), checkout.SpanContext()},
		{"server span under client span", s.Parent(), c.SpanContext()},
		{"LoadOrder under server span", load.Parent(), s.SpanContext()},
	} {
		if step.child.TraceID() != step.parent.TraceID() || step.child.SpanID() != step.parent.SpanID() {
			t.Errorf("%s: parent %v/%v, want %v/%v", step.what, step.child.TraceID(), step.child.SpanID(), step.parent.TraceID(), step.parent.SpanID())
		}
	}
	if !s.Parent().IsRemote() {
		t.Error("server span's parent is not remote: the trace did not cross the wire")
	}

	sa, ca := attrMap(s.Attributes()), attrMap(c.Attributes())
	for k, want := range map[attribute.Key]any{
		"http.route":                "/orders/{id}",
		"http.request.method":       "GET",
		"http.response.status_code": int64(200),
	} {
		if sa[k] != want {
			t.Errorf("server %s = %v, want %v", k, sa[k], want)
		}
	}
	for k, want := range map[attribute.Key]any{
		"url.template":              "/orders/{id}",
		"http.request.method":       "GET",
		"http.response.status_code": int64(200),
		"url.full":                  srv.URL + "/orders/42",
	} {
		if ca[k] != want {
			t.Errorf("client %s = %v, want %v", k, ca[k], want)
		}
	}
	if s.Status().Code != codes.Unset || c.Status().Code != codes.Unset {
		t.Errorf("statuses server %v client %v, want Unset", s.Status(), c.Status())
	}
}

func TestHTTPServerErrorStatus(t *testing.T) {
	tr, rec, _ := newRecorded(t)
	srv := newOrderServer(t, tr)
	client := &http.Client{Transport: tr.Transport(nil)}
	t.Cleanup(client.CloseIdleConnections)

	resp, err := client.Get(srv.URL + "/orders/missing")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
	if s := spanOfKind(t, rec, "GET /orders/{id}", trace.SpanKindServer); s.Status().Code != codes.Error {
		t.Errorf("server status on 500 = %v, want Error", s.Status())
	}
	// No URL template in the context: the client span has the method alone.
	if c := spanOfKind(t, rec, "GET", trace.SpanKindClient); c.Status().Code != codes.Error {
		t.Errorf("client status on 500 = %v, want Error", c.Status())
	}
}

// TestSetRouteForOtherRouters routes by hand, as a third-party router would,
// and names the span with SetRoute.
func TestSetRouteForOtherRouters(t *testing.T) {
	_, rec, tp := newRecorded(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	tr, err := tracing.New(tracing.WithTracerProvider(tp), tracing.WithMeterProvider(mp), tracing.WithPropagator(w3c))
	if err != nil {
		t.Fatal(err)
	}
	router := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := strings.CutPrefix(r.URL.Path, "/orders/"); ok {
			tracing.SetRoute(r, "/orders/:id")
			_, _ = io.WriteString(w, "order "+id)
			return
		}
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(tr.Middleware()(router))
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/orders/7")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()

	s := spanOfKind(t, rec, "GET /orders/:id", trace.SpanKindServer)
	if got := attrMap(s.Attributes())["http.route"]; got != "/orders/:id" {
		t.Errorf("http.route = %v, want /orders/:id", got)
	}

	// otelhttp's request-duration histogram carries the route too.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "http.server.request.duration" {
				for _, dp := range h.DataPoints {
					v, _ := dp.Attributes.Value("http.route")
					routes = append(routes, v.AsString())
				}
			}
		}
	}
	if len(routes) != 1 || routes[0] != "/orders/:id" {
		t.Errorf("http.server.request.duration routes = %q, want [/orders/:id]", routes)
	}
}
