package tracing_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/go-microkit/microkit/tracing"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// A package's metrics follow microkit_<package>_<metric>_<unit>, live in the
// caller's registry, and carry the trace id of the observation as exemplar.
func ExampleObserveWithExemplar() {
	reg := tracing.NewRegistry()
	stepDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: tracing.MetricName("saga", "step_duration", "seconds"),
		Help: "Duration of saga steps.",
	}, []string{"step"})
	reg.MustRegister(stepDuration)

	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ctx, span := tp.Tracer("example").Start(context.Background(), "ReserveStock")
	tracing.ObserveWithExemplar(ctx, stepDuration.WithLabelValues("reserve"), 0.042)
	span.End()

	// An OpenMetrics scrape of /metrics shows the exemplar.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	tracing.Handler(reg).ServeHTTP(rec, req)
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.Contains(line, "trace_id=") {
			fmt.Println("exemplar on:", line[:strings.Index(line, " ")])
		}
	}
	// Output:
	// exemplar on: microkit_saga_step_duration_seconds_bucket{step="reserve",le="0.05"}
}

// Call is Do for a function that returns a value.
func ExampleCall() {
	// With no provider installed, Call only runs the function: the span is a
	// no-op and costs what the OpenTelemetry no-op API costs.
	total, err := tracing.Call(context.Background(), "PriceOrder", func(ctx context.Context) (int, error) {
		return 1299, nil
	})
	fmt.Println(total, err)
	// Output:
	// 1299 <nil>
}
