package rabbitbus_test

import (
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
)

// TestComposition runs the composition suite on the shared broker. It
// does not restart it (the conformance suite's BrokerRestart does, once:
// a restart interrupts every client of the machine's broker).
func TestComposition(t *testing.T) {
	br := newBroker(t)
	eventbustest.RunComposition(t, eventbustest.Config{
		Connect: func(t *testing.T) eventbustest.Instance {
			b := br.dial(t)
			return eventbustest.Instance{Publisher: b, Subscriber: br.subscriber(b)}
		},
		Timeout: 30 * time.Second,
		Seeds:   4,
	})
}
