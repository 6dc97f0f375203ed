package sagametrics_test

import (
	"context"
	"fmt"

	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagametrics"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is a listener: register it once, pass it to every orchestrator.
func Example() {
	reg := prometheus.NewRegistry() // or prometheus.DefaultRegisterer in a service
	metrics, err := sagametrics.New(reg)
	if err != nil {
		panic(err)
	}
	o, err := saga.NewOrchestrator(saga.NewMemoryStore(), saga.WithListener(metrics))
	if err != nil {
		panic(err)
	}
	defer o.Close(context.Background())

	type empty struct{}
	ping, _ := saga.New("ping", saga.Step[empty]{Name: "ping", Execute: func(context.Context, *empty) error { return nil }})
	_ = o.Register(ping)
	_, _ = ping.Run(context.Background(), o, empty{})

	families, _ := reg.Gather()
	for _, f := range families {
		if f.GetName() == "microkit_saga_completed_total" {
			fmt.Println(f.GetName(), f.GetMetric()[0].GetCounter().GetValue())
		}
	}
	// Output: microkit_saga_completed_total 1
}
