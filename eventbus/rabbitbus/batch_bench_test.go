package rabbitbus_test

import (
	"testing"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
)

// BenchmarkRouterBatch compares a batch handler with a single-message
// handler on RabbitMQ (see eventbustest.RunBatchBenchmark).
func BenchmarkRouterBatch(b *testing.B) {
	br := newBroker(b)
	eventbustest.RunBatchBenchmark(b, func(b *testing.B) eventbustest.Instance {
		bus := br.dial(b)
		return eventbustest.Instance{Publisher: bus, Subscriber: br.subscriber(bus)}
	})
}
