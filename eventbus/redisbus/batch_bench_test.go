package redisbus_test

import (
	"testing"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
)

// BenchmarkRouterBatch compares a batch handler with a single-message
// handler on Redis Streams (see eventbustest.RunBatchBenchmark), each run
// on a stream of its own.
func BenchmarkRouterBatch(b *testing.B) {
	addr := sharedAddr(b)
	eventbustest.RunBatchBenchmark(b, func(b *testing.B) eventbustest.Instance {
		bus := benchBus(b, addr)
		return eventbustest.Instance{Publisher: bus, Subscriber: bus}
	})
}
