// Package metricstest checks, in tests, that metric names follow microkit's
// convention microkit_<package>_<metric>_<unit> (see tracing.MetricName).
// Every metrics subpackage runs [CheckRegistry] over the collectors it
// registers, and the example shop runs [CheckMetricName] over each
// service's /metrics page.
package metricstest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/go-microkit/microkit/tracing"
)

// CheckMetricName returns an error that says why name does not follow the
// convention of tracing.MetricName: lower-case snake case, the microkit
// prefix, then at least a package, a metric and a unit, and "_total" at the
// end of counters only (counter tells which the metric is). It also rejects
// units that are not plural base units (milliseconds, kilobytes, percent; a
// counter's unit comes before _total), and the suffixes _count, _sum,
// _bucket and _created, which the exposition formats use for the series of
// histograms and summaries.
func CheckMetricName(name string, counter bool) error {
	parts := strings.Split(name, "_")
	switch {
	case parts[0] != tracing.MetricNamespace:
		return fmt.Errorf("metric %q: does not start with %s_", name, tracing.MetricNamespace)
	case len(parts) < 4:
		return fmt.Errorf("metric %q: want %s_<package>_<metric>_<unit>", name, tracing.MetricNamespace)
	}
	for _, p := range parts[1:] {
		if p == "" {
			return fmt.Errorf("metric %q: empty part between underscores", name)
		}
		for _, r := range p {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
				return fmt.Errorf("metric %q: %q is not lower-case snake case", name, r)
			}
		}
		if p[0] >= '0' && p[0] <= '9' {
			return fmt.Errorf("metric %q: part %q starts with a digit", name, p)
		}
	}
	unit := parts[len(parts)-1]
	if counter != (unit == "total") {
		if counter {
			return fmt.Errorf("metric %q: a counter ends in _total", name)
		}
		return fmt.Errorf("metric %q: only a counter ends in _total", name)
	}
	if counter {
		unit = parts[len(parts)-2]
	}
	switch unit {
	case "count", "sum", "bucket", "created", "gcount", "gsum":
		// A gauge foo_count reads like the count series of a histogram
		// foo, and collides with it if one exists.
		return fmt.Errorf("metric %q: _%s is a suffix the exposition formats reserve", name, unit)
	case "nanoseconds", "microseconds", "milliseconds", "minutes", "hours", "days",
		"kilobytes", "megabytes", "gigabytes", "kibibytes", "mebibytes", "gibibytes", "percent":
		return fmt.Errorf("metric %q: unit %q is not a base unit (seconds, bytes, ratio)", name, unit)
	case "second", "byte":
		return fmt.Errorf("metric %q: unit %q is not plural", name, unit)
	}
	return nil
}

// CheckRegistry gathers g and checks the name of every microkit_ metric
// family in it with [CheckMetricName]; families of other libraries (go_,
// process_, OpenTelemetry's http_ and rpc_) are left alone.
func CheckRegistry(g prometheus.Gatherer) error {
	families, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gather: %w", err)
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), tracing.MetricNamespace+"_") {
			continue
		}
		if err := CheckMetricName(f.GetName(), f.GetType() == dto.MetricType_COUNTER); err != nil {
			return err
		}
	}
	return nil
}

// Series gathers g and returns the value of every series, keyed
// name{label=value,...} with the labels in the registry's order: the value
// of a counter or gauge, the sample count of a histogram or summary. An
// error gathering fails t.
func Series(t testing.TB, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := make([]string, 0, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := f.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			case m.GetSummary() != nil:
				out[key] = float64(m.GetSummary().GetSampleCount())
			}
		}
	}
	return out
}
