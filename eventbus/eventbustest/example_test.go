package eventbustest_test

import (
	"context"
	"testing"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/memory"
)

// An adapter's own tests run both suites. Connect stands for one process:
// here a client of one in-process bus; for a broker, a new connection.
func ExampleRun() {
	testConformance := func(t *testing.T) {
		bus, err := memory.New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bus.Close(context.Background()) })
		cfg := eventbustest.Config{
			Connect: func(t *testing.T) eventbustest.Instance {
				c := bus.Client()
				return eventbustest.Instance{Publisher: c, Subscriber: c}
			},
			OrderedPerSubject: true,
		}
		eventbustest.Run(t, cfg)            // the port's promises, one by one
		eventbustest.RunComposition(t, cfg) // the middleware together, under random scenarios
	}
	_ = testConformance // in a _test.go file: func TestConformance(t *testing.T)
}
