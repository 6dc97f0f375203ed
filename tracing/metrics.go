package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
)

// MetricNamespace is the first part of every microkit metric name.
const MetricNamespace = "microkit"

// Exemplar label names that hold the ids of the span an observation was
// made in, as Grafana and the OpenMetrics examples name them.
const (
	ExemplarTraceIDLabel = "trace_id"
	ExemplarSpanIDLabel  = "span_id"
)

// MetricName returns the name of a microkit metric by the house convention
// microkit_<package>_<metric>_<unit>: MetricName("breaker", "calls",
// "total") is "microkit_breaker_calls_total" and MetricName("saga",
// "step_duration", "seconds") is "microkit_saga_step_duration_seconds".
// Units are plural base units (seconds, bytes, messages) or "total" for
// counters, "ratio" for 0..1 values and "info" for info metrics.
func MetricName(pkg, metric, unit string) string {
	return MetricNamespace + "_" + pkg + "_" + metric + "_" + unit
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors registered. Give it to the metrics constructors of microkit's
// packages (each takes a prometheus.Registerer) and serve it with [Handler];
// nothing in microkit registers on the global default registry.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler returns the /metrics handler for g. It speaks OpenMetrics to
// scrapers that ask for it, the only format that carries exemplars, and the
// Prometheus text format to the others. Errors while gathering are logged
// through slog and served as HTTP 500.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          slogPrinter{},
		ErrorHandling:     promhttp.HTTPErrorOnError,
	})
}

// slogPrinter adapts slog to promhttp's ErrorLog.
type slogPrinter struct{}

// Println logs one promhttp error.
func (slogPrinter) Println(v ...any) {
	slog.Error("tracing: serving metrics", "err", fmt.Sprint(v...))
}

// ExemplarLabels returns the exemplar labels (trace and span id) of the span
// in ctx, or nil when ctx holds no sampled span: only a sampled trace can be
// found again from an exemplar.
func ExemplarLabels(ctx context.Context) prometheus.Labels {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() {
		return nil
	}
	return prometheus.Labels{
		ExemplarTraceIDLabel: sc.TraceID().String(),
		ExemplarSpanIDLabel:  sc.SpanID().String(),
	}
}

// ObserveWithExemplar observes v on o, with the trace id of the span in ctx
// as exemplar when that span is sampled and o supports exemplars (histograms
// do; summaries do not). Otherwise it is a plain Observe, without
// allocations.
func ObserveWithExemplar(ctx context.Context, o prometheus.Observer, v float64) {
	if eo, ok := o.(prometheus.ExemplarObserver); ok {
		if labels := ExemplarLabels(ctx); labels != nil {
			eo.ObserveWithExemplar(v, labels)
			return
		}
	}
	o.Observe(v)
}

// AddWithExemplar adds v to c, with the trace id of the span in ctx as
// exemplar when that span is sampled; otherwise it is a plain Add.
func AddWithExemplar(ctx context.Context, c prometheus.Counter, v float64) {
	if ea, ok := c.(prometheus.ExemplarAdder); ok {
		if labels := ExemplarLabels(ctx); labels != nil {
			ea.AddWithExemplar(v, labels)
			return
		}
	}
	c.Add(v)
}
