package natsbus_test

import (
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
)

// TestComposition runs the composition suite on an embedded server that
// the suite restarts in some scenarios. Acks are confirmed, so that an ack
// lost in a restart is seen (as a redelivery the invariant allows), and
// the ack wait is short, so that what a crashed consumer held comes back
// within the run.
func TestComposition(t *testing.T) {
	srv := natstest.Run(t)
	eventbustest.RunComposition(t, eventbustest.Config{
		Connect: func(t *testing.T) eventbustest.Instance {
			b := connect(t, srv.URL(), natsbus.WithAckWait(time.Second), natsbus.WithConfirmedAcks())
			return eventbustest.Instance{Publisher: b, Subscriber: b}
		},
		Restart: func(t *testing.T) { srv.Restart(t) },
		Seeds:   4,
	})
}
