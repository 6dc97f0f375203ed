package natsbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
)

// BenchmarkRouterBatch compares a batch handler with a single-message
// handler on NATS JetStream (see eventbustest.RunBatchBenchmark).
func BenchmarkRouterBatch(b *testing.B) {
	srv := natstest.Run(b)
	eventbustest.RunBatchBenchmark(b, func(b *testing.B) eventbustest.Instance {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		bus, err := natsbus.Connect(ctx, srv.URL(), natsbus.WithLogger(quiet()))
		if err != nil {
			b.Fatal(err)
		}
		return eventbustest.Instance{Publisher: bus, Subscriber: bus}
	})
}
