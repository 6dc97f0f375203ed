package outboxtest_test

import (
	"context"
	"testing"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/eventbus/outbox/outboxtest"
)

// An adapter's tests run the scenarios against its broker. Connect stands
// for one process: here a client of one in-process bus, whose scenarios
// may also run in fake time; for a broker, a new connection.
func ExampleRunScheduled() {
	testScheduled := func(t *testing.T) {
		bus, err := memory.New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bus.Close(context.Background()) })
		outboxtest.RunScheduled(t, outboxtest.Config{
			Connect: func(t *testing.T) eventbustest.Instance {
				c := bus.Client()
				return eventbustest.Instance{Publisher: c, Subscriber: c}
			},
		})
	}
	_ = testScheduled // in a _test.go file: func TestScheduled(t *testing.T)
}
