package sqlbus_test

import (
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/sqlbus"
)

// instances returns the suites' Connect on db: a short visibility timeout
// so that what a killed consumer held comes back within the test, and a
// short poll interval for the nacks and timeouts of other instances,
// which nothing announces.
func instances(db database, opts ...sqlbus.Option) func(t *testing.T) eventbustest.Instance {
	return func(t *testing.T) eventbustest.Instance {
		opts := append([]sqlbus.Option{sqlbus.WithAckWait(2 * time.Second), sqlbus.WithPollInterval(100 * time.Millisecond)}, opts...)
		b, _ := db.connect(t, opts...)
		return eventbustest.Instance{Publisher: b, Subscriber: b}
	}
}

// TestConformance runs the conformance suite on each dialect (the shared
// PostgreSQL, a schema of its own; see TestServerRestart for restarts).
func TestConformance(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			eventbustest.Run(t, eventbustest.Config{Connect: instances(open(t, d))})
		})
	}
}

// TestComposition runs the composition suite on each dialect, with a
// small prefetch so that no delivery waits long in a buffer, and confirmed
// acks, so that an ack that failed is seen (as a redelivery the invariant
// allows).
func TestComposition(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			eventbustest.RunComposition(t, eventbustest.Config{
				Connect:          instances(open(t, d), sqlbus.WithConfirmedAcks()),
				SubscribeOptions: []eventbus.SubscribeOption{eventbus.WithPrefetch(2)},
				Seeds:            4,
			})
		})
	}
}
