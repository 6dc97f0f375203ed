package memory_test

import (
	"context"
	"testing"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/memory"
)

func TestConformance(t *testing.T) {
	bus, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close(context.Background()) })
	eventbustest.Run(t, eventbustest.Config{
		Connect: func(t *testing.T) eventbustest.Instance {
			c := bus.Client()
			return eventbustest.Instance{Publisher: c, Subscriber: c}
		},
		OrderedPerSubject: true,
	})
}
