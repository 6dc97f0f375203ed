package metricstest_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/go-microkit/microkit/internal/metricstest"
	"github.com/go-microkit/microkit/tracing"
)

func TestCheckMetricName(t *testing.T) {
	tests := []struct {
		name    string
		counter bool
		ok      bool
	}{
		{"microkit_breaker_calls_total", true, true},
		{"microkit_saga_step_duration_seconds", false, true},
		{"microkit_eventbus_in_flight_messages", false, true},
		{"microkit_http2_request_size_bytes", false, true},
		{"microkit_breaker_calls", true, false},              // counter without _total
		{"microkit_breaker_open_total", false, false},        // gauge with _total
		{"breaker_calls_total", true, false},                 // no namespace
		{"microkit_breaker_total", true, false},              // no metric part
		{"microkit_Breaker_calls_total", true, false},        // upper case
		{"microkit_breaker__calls_total", true, false},       // empty part
		{"microkit_breaker_calls-failed_total", true, false}, // dash
		{"microkit_breaker_2xx_total", true, false},          // part starts with digit
		{"microkit_breaker_duration_seconds_", false, false}, // trailing underscore
		{"", false, false}, // empty
		{"microkit_gateway_upstream_latency_seconds", false, true},
		{"microkit_gateway_upstream_latency_milliseconds", false, false}, // not a base unit
		{"microkit_saga_step_duration_minutes", false, false},
		{"microkit_eventbus_body_size_kilobytes", false, false},
		{"microkit_gateway_cpu_percent", false, false},
		{"microkit_gateway_busy_ratio", false, true},
		{"microkit_saga_step_duration_second", false, false}, // singular
		{"microkit_eventbus_sent_bytes_total", true, true},
		{"microkit_eventbus_sent_kilobytes_total", true, false},
		{"microkit_pool_requests_count", false, false}, // reads as a histogram's series
		{"microkit_pool_latency_sum", false, false},
		{"microkit_pool_latency_bucket", false, false},
		{"microkit_pool_started_created", false, false},
		{"microkit_build_info", false, false}, // no metric part
		{"microkit_gateway_build_info", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := metricstest.CheckMetricName(tt.name, tt.counter)
			if (err == nil) != tt.ok {
				t.Errorf("CheckMetricName(%q, %v) = %v, want ok %v", tt.name, tt.counter, err, tt.ok)
			}
		})
	}
}

func TestCheckRegistry(t *testing.T) {
	reg := tracing.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "microkit_breaker_calls_total", Help: "h"}))
	if err := metricstest.CheckRegistry(reg); err != nil {
		t.Fatalf("CheckRegistry on good names (and go_/process_ collectors): %v", err)
	}
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "microkit_breaker_open_total", Help: "h"}))
	if err := metricstest.CheckRegistry(reg); err == nil || !strings.Contains(err.Error(), "microkit_breaker_open_total") {
		t.Errorf("CheckRegistry with a gauge named _total = %v, want an error naming it", err)
	}
}

// FuzzCheckMetricName checks that every name CheckMetricName accepts is a
// valid Prometheus metric name that MetricName can build.
func FuzzCheckMetricName(f *testing.F) {
	f.Add("microkit_breaker_calls_total", true)
	f.Add("microkit_saga_step_duration_seconds", false)
	f.Add("microkit__x_total", true)
	f.Add("microkit_a_b_c", false)
	f.Add("microkit_ä_b_total", true)
	f.Fuzz(func(t *testing.T, name string, counter bool) {
		if metricstest.CheckMetricName(name, counter) != nil {
			return
		}
		if !model.LegacyValidation.IsValidMetricName(name) {
			t.Fatalf("accepted %q, which Prometheus rejects", name)
		}
		parts := strings.Split(name, "_")
		rebuilt := tracing.MetricName(parts[1], strings.Join(parts[2:len(parts)-1], "_"), parts[len(parts)-1])
		if rebuilt != name {
			t.Fatalf("MetricName rebuilt %q as %q", name, rebuilt)
		}
	})
}

func TestSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "microkit_test_calls_total", Help: "h"}, []string{"route", "code"})
	inflight := prometheus.NewGauge(prometheus.GaugeOpts{Name: "microkit_test_inflight_requests", Help: "h"})
	duration := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "microkit_test_duration_seconds", Help: "h"})
	size := prometheus.NewSummary(prometheus.SummaryOpts{Name: "microkit_test_size_bytes", Help: "h"})
	reg.MustRegister(calls, inflight, duration, size)
	calls.WithLabelValues("/a", "200").Add(3)
	inflight.Set(2)
	duration.Observe(0.1)
	duration.Observe(0.2)
	size.Observe(10)
	got := metricstest.Series(t, reg)
	want := map[string]float64{
		"microkit_test_calls_total{code=200,route=/a}": 3,
		"microkit_test_inflight_requests{}":            2,
		"microkit_test_duration_seconds{}":             2,
		"microkit_test_size_bytes{}":                   1,
	}
	if len(got) != len(want) {
		t.Fatalf("Series = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
