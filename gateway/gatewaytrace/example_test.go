package gatewaytrace_test

import (
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/gatewaytrace"
	"github.com/go-microkit/microkit/tracing"
)

// A gateway traced with one server span per request, named after the route,
// whose context the upstreams continue. (Compile-only: it needs upstreams.)
func ExamplePropagate() {
	orders, _ := gateway.StaticTarget("http://order-service:8080")
	g, err := gateway.New([]gateway.Route{{Path: "/api/orders/**", Target: orders, StripPrefix: "/api"}},
		gateway.WithMiddleware(gateway.RequestID(), tracing.Middleware()), // tracing last
		gateway.WithTransport(gatewaytrace.Propagate(gateway.NewTransport())))
	if err != nil {
		panic(err)
	}
	_ = gateway.NewServer(":8080", g)
}
