package gatewaymetrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/gatewaymetrics"
	"github.com/go-microkit/microkit/tracing"
)

func ExampleNew() {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	reg := prometheus.NewRegistry()
	m, err := gatewaymetrics.New(reg, nil)
	if err != nil {
		panic(err)
	}
	target, _ := gateway.StaticTarget(up.URL)
	g, _ := gateway.New([]gateway.Route{{Name: "orders", Path: "/api/orders/{id}", Target: target}},
		gateway.WithMiddleware(m.Middleware(), tracing.Middleware())) // tracing last: it names spans after the route
	front := httptest.NewServer(g)
	defer front.Close()
	for range 2 {
		resp, _ := http.Get(front.URL + "/api/orders/1")
		resp.Body.Close()
	}
	families, _ := reg.Gather()
	for _, f := range families {
		if strings.HasSuffix(f.GetName(), "_total") {
			for _, s := range f.GetMetric() {
				fmt.Println(f.GetName(), s.GetLabel()[0].GetValue(), s.GetLabel()[1].GetValue(), s.GetLabel()[2].GetValue(), s.GetCounter().GetValue())
			}
		}
	}
	// Output:
	// microkit_gateway_requests_total 200 GET orders 2
}
