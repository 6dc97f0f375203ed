package redisbus_test

import (
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/redisbus"
	"github.com/go-microkit/microkit/internal/redistest"
)

// TestComposition runs the composition suite on a throwaway server that
// the suite restarts in some scenarios. Acks are confirmed, so that an ack
// lost in a restart is seen (as a redelivery the invariant allows); the
// claim min idle is short, so that what a crashed consumer held comes back
// within the run, and the prefetch small, so that no entry waits in a
// buffer for as long.
func TestComposition(t *testing.T) {
	srv := redistest.Start(t)
	eventbustest.RunComposition(t, eventbustest.Config{
		Connect: func(t *testing.T) eventbustest.Instance {
			b := connect(t, srv.Addr(), redisbus.WithClaimMinIdle(2*time.Second), redisbus.WithConfirmedAcks())
			return eventbustest.Instance{Publisher: b, Subscriber: b}
		},
		Restart:          func(t *testing.T) { srv.Restart(t) },
		SubscribeOptions: []eventbus.SubscribeOption{eventbus.WithPrefetch(2)},
		Seeds:            4,
	})
}
