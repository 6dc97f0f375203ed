package sqlbus_test

import (
	"testing"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
)

// BenchmarkRouterBatch compares a batch handler with a single-message
// handler on each dialect (see eventbustest.RunBatchBenchmark). Each run
// has a fresh database (on PostgreSQL a schema of its own on the shared
// server) and a bus wired as the suites wire it, default options and, on
// PostgreSQL, a pgnotify.Listener as its Waker.
func BenchmarkRouterBatch(b *testing.B) {
	for _, d := range dialects {
		b.Run(d.String(), func(b *testing.B) {
			eventbustest.RunBatchBenchmark(b, func(b *testing.B) eventbustest.Instance {
				bus, _ := open(b, d).connect(b)
				return eventbustest.Instance{Publisher: bus, Subscriber: bus}
			})
		})
	}
}
