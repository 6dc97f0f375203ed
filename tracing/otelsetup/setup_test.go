package otelsetup_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-microkit/microkit/tracing"
	"github.com/go-microkit/microkit/tracing/otelsetup"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Tests here are not parallel: Setup installs process-wide globals, which
// each test replaces with its own Setup.

// collector is an OTLP trace receiver: the gRPC service and the HTTP
// endpoint both append what they receive.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.ResourceSpans
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spans = append(c.spans, req.GetResourceSpans()...)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	if r.URL.Path != "/v1/traces" || err != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	resp, _ := c.Export(r.Context(), &req)
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// received returns "service.name/span name" for every span received.
func (c *collector) received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, rs := range c.spans {
		var service string
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				out = append(out, service+"/"+s.GetName())
			}
		}
	}
	return out
}

func startGRPCCollector(t *testing.T) (*collector, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, c)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("collector: %v", err)
		}
	})
	return c, lis.Addr().String()
}

// TestSetupOTLPFromEnv sends a span to a real OTLP receiver over each
// protocol, configured only by the standard variables.
func TestSetupOTLPFromEnv(t *testing.T) {
	tests := []struct {
		protocol string
		start    func(t *testing.T) (*collector, string)
	}{
		{"grpc", func(t *testing.T) (*collector, string) {
			c, addr := startGRPCCollector(t)
			return c, "http://" + addr
		}},
		{"http/protobuf", func(t *testing.T) (*collector, string) {
			c := &collector{}
			srv := httptest.NewServer(c)
			t.Cleanup(srv.Close)
			return c, srv.URL
		}},
	}
	for _, tt := range tests {
		t.Run(tt.protocol, func(t *testing.T) {
			c, endpoint := tt.start(t)
			t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", tt.protocol)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
			t.Setenv("OTEL_SERVICE_NAME", "orders-from-env")

			shutdown, err := otelsetup.Setup(t.Context(), otelsetup.WithServiceName("orders"))
			if err != nil {
				t.Fatal(err)
			}
			if err := tracing.Do(t.Context(), "CreateOrder", func(context.Context) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if err := shutdown(t.Context()); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			if got := c.received(); len(got) != 1 || got[0] != "orders-from-env/CreateOrder" {
				t.Errorf("collector received %q, want [orders-from-env/CreateOrder] (OTEL_SERVICE_NAME overrides the option)", got)
			}
		})
	}
}

func TestSetupStdoutResourceAndPropagator(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	var out bytes.Buffer
	shutdown, err := otelsetup.Setup(t.Context(),
		otelsetup.WithExporter(otelsetup.ExporterStdout),
		otelsetup.WithWriter(&out),
		otelsetup.WithServiceName("orders"),
		otelsetup.WithServiceVersion("1.4.2"),
		otelsetup.WithInstanceID("orders-7f9c"),
	)
	if err != nil {
		t.Fatal(err)
	}
	md := map[string]string{}
	err = tracing.Do(t.Context(), "CreateOrder", func(ctx context.Context) error {
		tracing.Inject(ctx, md)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(md["traceparent"], "00-") {
		t.Errorf("Inject after Setup wrote %v, want a W3C traceparent", md)
	}
	if err := shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Name":"CreateOrder"`, `"service.name"`, `"orders"`, `"1.4.2"`, `"orders-7f9c"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout export lacks %s:\n%s", want, out.String())
		}
	}
}

func TestSetupPrometheusServesOTelMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	shutdown, err := otelsetup.Setup(t.Context(), otelsetup.WithExporter(otelsetup.ExporterNone), otelsetup.WithPrometheus(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })

	// otelhttp records its request duration on the global MeterProvider.
	h := tracing.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/ping", nil))

	rec := httptest.NewRecorder()
	tracing.Handler(reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if body := rec.Body.String(); !strings.Contains(body, "http_server_request_duration_seconds_count") {
		t.Errorf("/metrics lacks otelhttp's request duration:\n%s", body)
	}
}

func TestSetupShutdownIsIdempotent(t *testing.T) {
	exp := &namesExporter{}
	shutdown, err := otelsetup.Setup(t.Context(), otelsetup.WithSpanExporter(exp), otelsetup.WithSampler(sdktrace.AlwaysSample()))
	if err != nil {
		t.Fatal(err)
	}
	_ = tracing.Do(t.Context(), "Once", func(context.Context) error { return nil })
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = shutdown(t.Context()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
	exp.mu.Lock()
	defer exp.mu.Unlock()
	if len(exp.names) != 1 || exp.names[0] != "Once" || exp.shutdowns != 1 {
		t.Errorf("exported %q and shut down %d times, want [Once] flushed by one shutdown", exp.names, exp.shutdowns)
	}
}

func TestSetupInvalid(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		opts []otelsetup.Option
	}{
		{name: "empty service name", opts: []otelsetup.Option{otelsetup.WithServiceName("")}},
		{name: "unknown exporter", opts: []otelsetup.Option{otelsetup.WithExporter("zipkin")}},
		{name: "unknown OTEL_TRACES_EXPORTER", env: map[string]string{"OTEL_TRACES_EXPORTER": "jaeger"}},
		{name: "unsupported OTLP protocol", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			shutdown, err := otelsetup.Setup(t.Context(), tt.opts...)
			if !errors.Is(err, otelsetup.ErrInvalidOption) || shutdown != nil {
				t.Errorf("Setup = %v, want an error wrapping ErrInvalidOption", err)
			}
		})
	}
}

// A nil argument to an option means the option's default: Setup succeeds
// and installs a working provider.
func TestSetupNilOptionArgumentsMeanTheDefault(t *testing.T) {
	shutdown, err := otelsetup.Setup(t.Context(), otelsetup.WithExporter(otelsetup.ExporterNone),
		otelsetup.WithSpanExporter(nil), otelsetup.WithWriter(nil), otelsetup.WithSampler(nil),
		otelsetup.WithPrometheus(nil), otelsetup.WithLogger(nil))
	if err != nil {
		t.Fatalf("Setup with nil option arguments: %v", err)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSetupLogsExportErrorsThroughSlog(t *testing.T) {
	var logs bytes.Buffer
	shutdown, err := otelsetup.Setup(t.Context(),
		otelsetup.WithExporter(otelsetup.ExporterNone),
		otelsetup.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	otel.Handle(errors.New("export failed: connection refused"))
	if !strings.Contains(logs.String(), "export failed: connection refused") {
		t.Errorf("log = %q, want the OpenTelemetry error", logs.String())
	}
}

// namesExporter records the names of the spans it exports and counts its
// shutdowns.
type namesExporter struct {
	mu        sync.Mutex
	names     []string
	shutdowns int
}

func (e *namesExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range spans {
		e.names = append(e.names, s.Name())
	}
	return nil
}

func (e *namesExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shutdowns++
	return nil
}

func TestSetupToleratesMalformedResourceAttributes(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod,broken")
	var logs, out bytes.Buffer
	shutdown, err := otelsetup.Setup(t.Context(),
		otelsetup.WithExporter(otelsetup.ExporterStdout), otelsetup.WithWriter(&out),
		otelsetup.WithServiceName("orders"),
		otelsetup.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
	)
	if err != nil {
		t.Fatalf("Setup with a malformed OTEL_RESOURCE_ATTRIBUTES: %v", err)
	}
	_ = tracing.Do(t.Context(), "Op", func(context.Context) error { return nil })
	if err := shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "resource partly built") {
		t.Errorf("log = %q, want a warning about the resource", logs.String())
	}
	for _, want := range []string{`"orders"`, `"prod"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("exported resource lacks %s:\n%s", want, out.String())
		}
	}
}
