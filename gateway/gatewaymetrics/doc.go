// Package gatewaymetrics records Prometheus metrics for the gateway: one
// request counter and one latency histogram per route, method and status,
// with the trace id as exemplar (package tracing).
//
// Start at [New] with the caller's prometheus.Registerer (nothing is
// registered on the global registry) and put [Metrics.Middleware] in
// gateway.WithMiddleware. Metric names follow microkit's convention:
//
//	microkit_gateway_requests_total{route,method,code}
//	microkit_gateway_request_duration_seconds{route,method}
//	microkit_gateway_inflight_requests
//
// For tracing, put tracing.Middleware() last in gateway.WithMiddleware (so
// that it sees the matched route pattern and names spans after it) and
// tracing.Transport in gateway.WithTransport.
package gatewaymetrics
