package natsbus_test

import (
	"bytes"
	"testing"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestPublishKeepsSubjectOrderAfterPartialFailure injects a failure in the
// middle of a batch with the stream itself: it holds at most 8 KiB and
// refuses what does not fit (DiscardNew), and a 5 KiB filler that expires
// after a second leaves no room for the batch's first, 4 KiB message, while
// the small ones after it fit. The first message is refused, and is stored
// only after the filler expires. Its Subject's next message must not be
// stored before it; a message of another Subject may.
func TestPublishKeepsSubjectOrderAfterPartialFailure(t *testing.T) {
	srv := natstest.Run(t)
	b := connect(t, srv.URL(), natsbus.WithStream("ORDERED"), natsbus.WithSubjectPrefix("ordered"),
		natsbus.WithStreamConfig(func(sc *jetstream.StreamConfig) {
			sc.MaxBytes = 8 << 10
			sc.Discard = jetstream.DiscardNew
			sc.AllowMsgTTL = true
		}))
	ctx := ctxT(t)
	sub, err := b.Subscribe(ctx, "billing", "order.>")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	filler := &nats.Msg{Subject: "ordered.filler", Data: bytes.Repeat([]byte("f"), 5<<10), Header: nats.Header{}}
	filler.Header.Set(jetstream.MsgTTLHeader, "1s")
	if _, err := js.PublishMsg(ctx, filler); err != nil {
		t.Fatal(err)
	}

	batch := eventbustest.NewPartialFailureBatch(4 << 10) // its first message is refused until the filler expires
	if err := b.Publish(ctx, batch.Batch()...); err != nil {
		t.Fatal(err)
	}

	batch.CheckOrder(ctx, t, sub)
}
