package rabbitbus_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/rabbitbus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// TestPublishKeepsSubjectOrderAfterPartialFailure injects a failure in the
// middle of a batch with the group's queue itself: it holds at most 8 KiB of
// bodies and nacks what does not fit (reject-publish), and a 5 KiB filler
// that expires after a second leaves no room for the batch's first, 4 KiB
// message, while the small ones after it fit. The first message is nacked,
// and is queued only once the filler expired. Its Subject's next message
// must not be queued before it.
func TestPublishKeepsSubjectOrderAfterPartialFailure(t *testing.T) {
	br := newBroker(t)
	b := br.dial(t, rabbitbus.WithQueueArguments(map[string]any{"x-max-length-bytes": 8 << 10, "x-overflow": "reject-publish"}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Declare the group's queue, then stop consuming: only ready messages
	// count against its length.
	sub, err := br.subscriber(b).Subscribe(ctx, "billing", "order.>")
	if err != nil {
		t.Fatal(err)
	}
	_ = sub.Close()

	ch := br.plainChannel(t)
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, br.exchange, "order.filler", false, false,
		amqp.Publishing{Body: bytes.Repeat([]byte("f"), 5<<10), Expiration: "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := dc.WaitContext(ctx); !ok || err != nil {
		t.Fatalf("filler not confirmed: %v", err)
	}

	batch := eventbustest.NewPartialFailureBatch(4 << 10) // its first message is nacked until the filler expires
	if err := b.Publish(ctx, batch.Batch()...); err != nil {
		t.Fatal(err)
	}

	sub, err = br.subscriber(b).Subscribe(ctx, "billing", "order.>")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	batch.CheckOrder(ctx, t, sub)
}
