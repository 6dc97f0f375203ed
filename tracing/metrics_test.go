package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/tracing"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestMetricName(t *testing.T) {
	if got := tracing.MetricName("saga", "step_duration", "seconds"); got != "microkit_saga_step_duration_seconds" {
		t.Errorf("MetricName = %q", got)
	}
}

// sampledContext returns a context holding a sampled span of tp.
func sampledContext(t *testing.T) (context.Context, trace.SpanContext) {
	t.Helper()
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(t.Context(), "op")
	t.Cleanup(func() { span.End() })
	return ctx, span.SpanContext()
}

func TestObserveWithExemplar(t *testing.T) {
	ctx, sc := sampledContext(t)
	reg := prometheus.NewRegistry()
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "microkit_test_step_duration_seconds", Help: "h", Buckets: []float64{0.1, 1},
	}, []string{"step"})
	calls := prometheus.NewCounter(prometheus.CounterOpts{Name: "microkit_test_calls_total", Help: "h"})
	summary := prometheus.NewSummary(prometheus.SummaryOpts{Name: "microkit_test_size_bytes", Help: "h"})
	reg.MustRegister(hist, calls, summary)

	tracing.ObserveWithExemplar(ctx, hist.WithLabelValues("reserve"), 0.05)
	tracing.ObserveWithExemplar(context.Background(), hist.WithLabelValues("reserve"), 0.5) // no span: no exemplar
	tracing.AddWithExemplar(ctx, calls, 2)
	tracing.AddWithExemplar(context.Background(), calls, 1)
	tracing.ObserveWithExemplar(ctx, summary, 10) // summaries take no exemplar

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()}
	for _, f := range families {
		m := f.GetMetric()[0]
		switch f.GetName() {
		case "microkit_test_step_duration_seconds":
			b := m.GetHistogram().GetBucket()
			if m.GetHistogram().GetSampleCount() != 2 {
				t.Errorf("histogram count = %d, want 2", m.GetHistogram().GetSampleCount())
			}
			assertExemplar(t, "bucket 0.1", b[0].GetExemplar().GetLabel(), b[0].GetExemplar().GetValue(), wantLabels, 0.05)
			if b[1].GetExemplar() != nil {
				t.Errorf("bucket 1 exemplar = %v, want none (observed without a span)", b[1].GetExemplar())
			}
		case "microkit_test_calls_total":
			if m.GetCounter().GetValue() != 3 {
				t.Errorf("counter = %v, want 3", m.GetCounter().GetValue())
			}
			assertExemplar(t, "counter", m.GetCounter().GetExemplar().GetLabel(), m.GetCounter().GetExemplar().GetValue(), wantLabels, 2)
		case "microkit_test_size_bytes":
			if m.GetSummary().GetSampleCount() != 1 {
				t.Errorf("summary count = %d, want 1", m.GetSummary().GetSampleCount())
			}
		}
	}
}

type labelPair interface {
	GetName() string
	GetValue() string
}

func assertExemplar[L labelPair](t *testing.T, what string, labels []L, value float64, want map[string]string, wantValue float64) {
	t.Helper()
	got := map[string]string{}
	for _, l := range labels {
		got[l.GetName()] = l.GetValue()
	}
	if len(got) != len(want) || got["trace_id"] != want["trace_id"] || got["span_id"] != want["span_id"] || value != wantValue {
		t.Errorf("%s exemplar = %v %v, want %v %v", what, got, value, want, wantValue)
	}
}

func TestExemplarLabelsNeedsSampledSpan(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(t.Context(), "op")
	defer span.End()
	if l := tracing.ExemplarLabels(ctx); l != nil {
		t.Errorf("ExemplarLabels of an unsampled span = %v, want nil", l)
	}
	if l := tracing.ExemplarLabels(context.Background()); l != nil {
		t.Errorf("ExemplarLabels without a span = %v, want nil", l)
	}
}

func TestHandlerServesExemplarsToOpenMetricsScrapers(t *testing.T) {
	ctx, sc := sampledContext(t)
	reg := tracing.NewRegistry()
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "microkit_test_duration_seconds", Help: "h"})
	reg.MustRegister(hist)
	tracing.ObserveWithExemplar(ctx, hist, 0.2)

	srv := httptest.NewServer(tracing.Handler(reg))
	t.Cleanup(srv.Close)
	scrape := func(accept string) string {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("scrape: %d %v", resp.StatusCode, err)
		}
		return string(body)
	}

	om := scrape("application/openmetrics-text; version=1.0.0")
	// The 0.25 bucket holds the observation; label order is not fixed.
	bucket := grepLines(om, `microkit_test_duration_seconds_bucket{le="0.25"} 1 # {`)
	for _, want := range []string{`trace_id="` + sc.TraceID().String() + `"`, `span_id="` + sc.SpanID().String() + `"`, `} 0.2 `} {
		if !strings.Contains(bucket, want) {
			t.Errorf("OpenMetrics scrape lacks exemplar part %s:\n%s", want, grepLines(om, "microkit_test"))
		}
	}
	if !strings.Contains(om, "go_goroutines") || !strings.Contains(om, "# EOF") {
		t.Error("OpenMetrics scrape lacks the Go collector or the EOF marker")
	}
	if text := scrape(""); strings.Contains(text, "trace_id") || !strings.Contains(text, "microkit_test_duration_seconds_count 1") {
		t.Errorf("text-format scrape should carry the metric without exemplars:\n%s", grepLines(text, "microkit_test"))
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
