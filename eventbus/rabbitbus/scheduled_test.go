package rabbitbus_test

import (
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/outbox/outboxtest"
)

// TestScheduled runs the scheduled-publishing scenarios through the
// shared RabbitMQ broker, on an exchange of the test's own, in real time,
// on SQLite and PostgreSQL.
func TestScheduled(t *testing.T) {
	br := newBroker(t)
	outboxtest.RunScheduled(t, outboxtest.Config{
		Connect: func(t *testing.T) eventbustest.Instance {
			b := br.dial(t)
			return eventbustest.Instance{Publisher: b, Subscriber: br.subscriber(b)}
		},
		Timeout: 30 * time.Second,
	})
}
