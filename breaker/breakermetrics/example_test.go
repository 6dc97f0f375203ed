package breakermetrics_test

import (
	"context"
	"fmt"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/breaker/breakermetrics"
	"github.com/prometheus/client_golang/prometheus"
)

func Example() {
	reg := prometheus.NewRegistry() // in a service: the registry /metrics serves
	m, err := breakermetrics.New(reg)
	if err != nil {
		panic(err)
	}
	b, err := breaker.New("payments", breaker.WithObserver(m.Observer))
	if err != nil {
		panic(err)
	}
	_ = b.Execute(context.Background(), func(context.Context) error { return nil })
	families, _ := reg.Gather()
	for _, f := range families {
		fmt.Println(f.GetName(), len(f.GetMetric()))
	}
	// Output:
	// microkit_breaker_calls_total 4
	// microkit_breaker_circuit_state 5
	// microkit_breaker_slow_calls_total 1

}
