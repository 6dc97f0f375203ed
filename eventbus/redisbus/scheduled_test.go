package redisbus_test

import (
	"testing"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/outbox/outboxtest"
	"github.com/go-microkit/microkit/eventbus/redisbus"
)

// TestScheduled runs the scheduled-publishing scenarios through the
// shared Redis server, on a stream of the test's own, in real time, on
// SQLite and PostgreSQL.
func TestScheduled(t *testing.T) {
	addr := sharedAddr(t)
	stream := uniqueStream(t, addr)
	outboxtest.RunScheduled(t, outboxtest.Config{
		Connect: func(t *testing.T) eventbustest.Instance {
			b := connect(t, addr, redisbus.WithStream(stream))
			return eventbustest.Instance{Publisher: b, Subscriber: b}
		},
	})
}
