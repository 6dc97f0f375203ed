package natsbus_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
	"github.com/nats-io/nats.go"
)

// TestBurstAtSlowHandlerDropsNothing: a burst far larger than a small
// prefetch at a slow handler, one of whose calls lasts until the broker has
// restarted and the client reconnected, so that the client pulls again
// while the subscription's buffer is full. No delivery may be dropped as a
// slow consumer: every message is handled, and none has to wait for the
// ack wait (an hour here) to come back.
func TestBurstAtSlowHandlerDropsNothing(t *testing.T) {
	srv := natstest.Run(t)
	var slow atomic.Int64
	reconnected := make(chan struct{}, 1)
	b := connect(t, srv.URL(), natsbus.WithAckWait(time.Hour),
		natsbus.WithNATSOptions(nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				slow.Add(1)
			}
		}), nats.ReconnectHandler(func(*nats.Conn) {
			select {
			case reconnected <- struct{}{}:
			default: // one is enough; never block nats.go's callbacks
			}
		})))
	ctx := ctxT(t)
	sub, err := b.Subscribe(ctx, "notify", "burst.>", eventbus.WithPrefetch(4))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const n = 60
	msgs := make([]*eventbus.Message, n)
	for i := range msgs {
		msgs[i] = &eventbus.Message{ID: eventbus.NewID(), Type: "burst.x", Data: fmt.Appendf(nil, "%d", i)}
	}
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	handled := make(chan string)
	restarted := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			d, err := sub.Next(ctx)
			if errors.Is(err, eventbus.ErrClosed) || ctx.Err() != nil {
				return
			}
			if err != nil {
				continue // the broker is restarting
			}
			if i == 2 {
				<-restarted // this call outlasts a broker restart
			}
			time.Sleep(10 * time.Millisecond) // a slow handler
			if d.Ack(ctx) == nil {
				select {
				case handled <- d.Message().ID:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	seen := make(map[string]bool)
	for len(seen) < 2 {
		seen[<-handled] = true
	}
	srv.Restart(t)
	select {
	case <-reconnected:
	case <-ctx.Done():
		t.Fatal("the client did not reconnect")
	}
	close(restarted)
	for len(seen) < n {
		select {
		case id := <-handled:
			seen[id] = true
		case <-ctx.Done():
			t.Fatalf("handled %d of %d messages; %d slow-consumer errors", len(seen), n, slow.Load())
		}
	}
	if n := slow.Load(); n != 0 {
		t.Fatalf("%d slow-consumer errors: deliveries were dropped", n)
	}
}
