// Package eventbusmetrics counts event bus traffic in Prometheus: a
// handler middleware that counts each delivery by its fate and times it,
// and a publisher decorator that counts published messages. It lives apart
// from package eventbus so that the core compiles nothing of Prometheus.
//
// Start with [New], given the prometheus.Registerer to register on; put
// [Metrics.Middleware] in eventbus.WithMiddleware and wrap the publisher
// your code publishes through with [Metrics.Publisher]:
//
//	m, err := eventbusmetrics.New(reg)
//	router, err := eventbus.NewRouter(bus, "billing",
//		eventbus.WithMiddleware(eventbus.Recover(), m.Middleware(), eventbus.DeadLetter(bus)))
//	pub := m.Publisher(bus)
package eventbusmetrics
