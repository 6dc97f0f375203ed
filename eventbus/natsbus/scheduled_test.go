package natsbus_test

import (
	"testing"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
	"github.com/go-microkit/microkit/eventbus/outbox/outboxtest"
)

// TestScheduled runs the scheduled-publishing scenarios through an
// embedded NATS server, in real time, on SQLite and PostgreSQL.
func TestScheduled(t *testing.T) {
	srv := natstest.Run(t)
	outboxtest.RunScheduled(t, outboxtest.Config{
		Connect: func(t *testing.T) eventbustest.Instance {
			b := connect(t, srv.URL())
			return eventbustest.Instance{Publisher: b, Subscriber: b}
		},
	})
}
