package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
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
// counters, "ratio" for 0..1 values and "info" for info metrics; see
// [CheckMetricName].
func MetricName(pkg, metric, unit string) string {
	return MetricNamespace + "_" + pkg + "_" + metric + "_" + unit
}

// CheckMetricName returns an error that says why name does not follow the
// convention of [MetricName]: lower-case snake case, the microkit prefix,
// then at least a package, a metric and a unit, and "_total" at the end of
// counters only (counter tells which the metric is). It also rejects units
// that are not plural base units (milliseconds, kilobytes, percent; a
// counter's unit comes before _total), and the suffixes _count, _sum,
// _bucket and _created, which the exposition formats use for the series of
// histograms and summaries. Packages can run it in a test over every metric
// they create; [CheckRegistry] does it for a whole registry.
func CheckMetricName(name string, counter bool) error {
	parts := strings.Split(name, "_")
	switch {
	case parts[0] != MetricNamespace:
		return fmt.Errorf("tracing: metric %q: does not start with %s_", name, MetricNamespace)
	case len(parts) < 4:
		return fmt.Errorf("tracing: metric %q: want %s_<package>_<metric>_<unit>", name, MetricNamespace)
	}
	for _, p := range parts[1:] {
		if p == "" {
			return fmt.Errorf("tracing: metric %q: empty part between underscores", name)
		}
		for _, r := range p {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
				return fmt.Errorf("tracing: metric %q: %q is not lower-case snake case", name, r)
			}
		}
		if p[0] >= '0' && p[0] <= '9' {
			return fmt.Errorf("tracing: metric %q: part %q starts with a digit", name, p)
		}
	}
	unit := parts[len(parts)-1]
	if counter != (unit == "total") {
		if counter {
			return fmt.Errorf("tracing: metric %q: a counter ends in _total", name)
		}
		return fmt.Errorf("tracing: metric %q: only a counter ends in _total", name)
	}
	if counter {
		unit = parts[len(parts)-2]
	}
	switch unit {
	case "count", "sum", "bucket", "created", "gcount", "gsum":
		// A gauge foo_count reads like the count series of a histogram
		// foo, and collides with it if one exists.
		return fmt.Errorf("tracing: metric %q: _%s is a suffix the exposition formats reserve", name, unit)
	case "nanoseconds", "microseconds", "milliseconds", "minutes", "hours", "days",
		"kilobytes", "megabytes", "gigabytes", "kibibytes", "mebibytes", "gibibytes", "percent":
		return fmt.Errorf("tracing: metric %q: unit %q is not a base unit (seconds, bytes, ratio)", name, unit)
	case "second", "byte":
		return fmt.Errorf("tracing: metric %q: unit %q is not plural", name, unit)
	}
	return nil
}

// CheckRegistry gathers g and checks the name of every microkit_ metric
// family in it with [CheckMetricName]; families of other libraries (go_,
// process_, OpenTelemetry's http_ and rpc_) are left alone.
func CheckRegistry(g prometheus.Gatherer) error {
	families, err := g.Gather()
	if err != nil {
		return fmt.Errorf("tracing: gather: %w", err)
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), MetricNamespace+"_") {
			continue
		}
		counter := f.GetType() == dto.MetricType_COUNTER
		if err := CheckMetricName(f.GetName(), counter); err != nil {
			return err
		}
	}
	return nil
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
