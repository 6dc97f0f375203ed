package memory_test

import (
	"context"
	"testing"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/eventbus/outbox/outboxtest"
)

// TestScheduled runs the scheduled-publishing scenarios on a bus of their
// own: in fake time (a synctest bubble, in which the bus is created), and
// once in real time, on SQLite and PostgreSQL.
func TestScheduled(t *testing.T) {
	connect := func(t *testing.T) eventbustest.Instance {
		bus, err := memory.New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bus.Close(context.Background()) })
		return eventbustest.Instance{Publisher: bus, Subscriber: bus}
	}
	t.Run("FakeTime", func(t *testing.T) {
		outboxtest.RunScheduled(t, outboxtest.Config{Connect: connect, FakeTime: true})
	})
	t.Run("RealTime", func(t *testing.T) {
		outboxtest.RunScheduled(t, outboxtest.Config{Connect: connect})
	})
}
