package bench

import (
	"context"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
)

// BenchmarkEventbusBatch compares microkit's batch handlers with its
// single-message handlers on the memory bus and on natsbus (an embedded
// nats-server): eventbustest.RunBatchBenchmark, which the adapters'
// packages run too (eventbus/rabbitbus's needs a RabbitMQ server). No
// rival appears: the comparison is batch / single on the same adapter.
func BenchmarkEventbusBatch(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		eventbustest.RunBatchBenchmark(b, func(b *testing.B) eventbustest.Instance {
			bus, err := memory.New()
			if err != nil {
				b.Fatal(err)
			}
			return eventbustest.Instance{Publisher: bus, Subscriber: bus}
		})
	})
	b.Run("natsbus", func(b *testing.B) {
		srv := natstest.Run(b)
		eventbustest.RunBatchBenchmark(b, func(b *testing.B) eventbustest.Instance {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			bus, err := natsbus.Connect(ctx, srv.URL(), natsbus.WithLogger(quietSlog()))
			if err != nil {
				b.Fatal(err)
			}
			return eventbustest.Instance{Publisher: bus, Subscriber: bus}
		})
	})
}
