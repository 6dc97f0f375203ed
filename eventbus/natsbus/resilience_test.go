package natsbus_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A consumer deleted under a running subscription (by an operator, or lost
// with a broker that kept no state) is recreated, and consuming goes on.
func TestRecreatesDeletedConsumer(t *testing.T) {
	srv := natstest.Run(t)
	var logs syncBuffer
	b := connect(t, srv.URL(), natsbus.WithDeliverPolicy(jetstream.DeliverAllPolicy),
		natsbus.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	sub, err := b.Subscribe(ctxT(t), "g", "order.created")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := eventbus.NewMessage("order.created", 1)
	if err := b.Publish(ctxT(t), first); err != nil {
		t.Fatal(err)
	}
	d := next(t, sub)
	if err := d.Ack(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := js.DeleteConsumer(ctxT(t), "EVENTS", natsbus.DurableName("g", "order.created")); err != nil {
		t.Fatal(err)
	}
	second, _ := eventbus.NewMessage("order.created", 2)
	if err := b.Publish(ctxT(t), second); err != nil {
		t.Fatal(err)
	}
	// The recreated consumer replays from the start (DeliverAll): the second
	// message arrives, perhaps after the first again.
	for {
		d := next(t, sub)
		_ = d.Ack(ctxT(t))
		if d.Message().ID == second.ID {
			break
		}
	}
	if !strings.Contains(logs.String(), "consumer recreated") {
		t.Fatalf("the consumer was not recreated; log:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
