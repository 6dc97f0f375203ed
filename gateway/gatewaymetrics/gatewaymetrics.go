package gatewaymetrics

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/felixge/httpsnoop"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/tracing"
)

// ErrInvalidOption is wrapped by New's errors for invalid arguments.
var ErrInvalidOption = errors.New("gatewaymetrics: invalid option")

// Metrics holds the gateway's collectors. It is safe for concurrent use.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

// New creates the collectors and registers them on reg. buckets are the
// latency histogram's upper bounds in seconds; nil means
// prometheus.DefBuckets. The error wraps ErrInvalidOption, or is the
// registration error (e.g. a second New on the same registry).
func New(reg prometheus.Registerer, buckets []float64) (*Metrics, error) {
	if reg == nil {
		return nil, fmt.Errorf("%w: nil registerer", ErrInvalidOption)
	}
	if buckets == nil {
		buckets = prometheus.DefBuckets
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: tracing.MetricName("gateway", "requests", "total"),
			Help: "Requests served by the gateway, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    tracing.MetricName("gateway", "request_duration", "seconds"),
			Help:    "Time from the gateway receiving a request to the end of its response, by route and method.",
			Buckets: buckets,
		}, []string{"route", "method"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: tracing.MetricName("gateway", "inflight", "requests"),
			Help: "Requests the gateway is serving now.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inflight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("gatewaymetrics: register: %w", err)
		}
	}
	return m, nil
}

// Middleware records every request. Requests that matched no route are
// counted under route "none"; methods outside the standard set under
// "OTHER", so that clients cannot grow the label space.
func (m *Metrics) Middleware() gateway.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.inflight.Inc()
			defer m.inflight.Dec()
			tracked, route := gateway.TrackRoute(r)
			res := httpsnoop.CaptureMetrics(next, w, tracked)
			name := route()
			if name == "" {
				name = "none"
			}
			method := methodLabel(r.Method)
			m.requests.WithLabelValues(name, method, strconv.Itoa(res.Code)).Inc()
			tracing.ObserveWithExemplar(r.Context(), m.duration.WithLabelValues(name, method), res.Duration.Seconds())
		})
	}
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
