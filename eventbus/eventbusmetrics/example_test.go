package eventbusmetrics_test

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbusmetrics"
	"github.com/go-microkit/microkit/eventbus/memory"
)

func Example() {
	reg := prometheus.NewRegistry() // in a service: the registry /metrics serves
	m, err := eventbusmetrics.New(reg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	bus, err := memory.New()
	if err != nil {
		panic(err)
	}
	defer bus.Close(ctx)
	done := make(chan struct{})
	router, err := eventbus.NewRouter(bus, "billing", eventbus.WithMiddleware(eventbus.Recover(), m.Middleware()))
	if err != nil {
		panic(err)
	}
	if err := router.Handle("order.created", func(context.Context, *eventbus.Message) error {
		close(done)
		return nil
	}); err != nil {
		panic(err)
	}
	if err := router.Start(ctx); err != nil {
		panic(err)
	}
	msg, err := eventbus.NewMessage("order.created", map[string]string{"order": "o-1"})
	if err != nil {
		panic(err)
	}
	if err := m.Publisher(bus).Publish(ctx, msg); err != nil {
		panic(err)
	}
	<-done
	if err := router.Close(ctx); err != nil { // waits for the handler, and so for its metrics
		panic(err)
	}
	families, _ := reg.Gather()
	for _, f := range families {
		fmt.Println(f.GetName(), len(f.GetMetric()))
	}
	// Output:
	// microkit_eventbus_handler_duration_seconds 1
	// microkit_eventbus_messages_handled_total 1
	// microkit_eventbus_messages_published_total 1
}
