package natsbus_test

import (
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
)

// TestComposition runs the composition suite on an embedded server that
// the suite restarts in some scenarios. Acks are confirmed, so that an ack
// lost in a restart is seen (as a redelivery the invariant allows); the
// ack wait is short, so that what a crashed consumer held comes back
// within the run, and the prefetch small, so that no message waits in a
// buffer for as long.
func TestComposition(t *testing.T) {
	srv := natstest.Run(t)
	eventbustest.RunComposition(t, eventbustest.Config{
		Connect: func(t *testing.T) eventbustest.Instance {
			b := connect(t, srv.URL(), natsbus.WithAckWait(2*time.Second), natsbus.WithConfirmedAcks())
			return eventbustest.Instance{Publisher: b, Subscriber: b}
		},
		Restart:          func(t *testing.T) { srv.Restart(t) },
		SubscribeOptions: []eventbus.SubscribeOption{eventbus.WithPrefetch(2)},
		Seeds:            4,
	})
}
