// Package discoverymetrics exports Prometheus metrics for the resolver of
// package discovery: a [discovery.Listener] that counts watch errors,
// ejections and retries and tracks each service's healthy instances and
// staleness. It lives apart from package discovery so that the core
// compiles nothing of Prometheus.
//
//	m, err := discoverymetrics.New(reg)
//	resolver, err := discovery.NewResolver(registry, discovery.WithListener(m))
package discoverymetrics
