package redisbus_test

import (
	"errors"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/redisbus"
)

// TestNextBatch: the subscription is an eventbus.BatchSubscription whose
// batches come from the reader's XREADGROUP COUNT: a batch as large as
// what was published returns as soon as it is full, one with no wait
// returns what is at hand, and each delivery is settled alone.
func TestNextBatch(t *testing.T) {
	addr := sharedAddr(t)
	b := connect(t, addr, redisbus.WithStream(uniqueStream(t, addr)), redisbus.WithConfirmedAcks())
	sn := subscribe(t, b, "batches", "line.added", eventbus.WithPrefetch(16))
	bs, ok := sn.(eventbus.BatchSubscription)
	if !ok {
		t.Fatalf("%T is not an eventbus.BatchSubscription", sn)
	}
	ctx := ctxFor(t)
	msgs := messages("line.added", 12)
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	got, err := bs.NextBatch(ctx, 8, time.Minute) // full long before the minute
	if err != nil || len(got) != 8 {
		t.Fatalf("NextBatch(8) = %d deliveries, %v; want 8", len(got), err)
	}
	for len(seen) < len(msgs) {
		for _, d := range got {
			if seen[d.Message().ID] || d.Attempt() != 1 {
				t.Fatalf("%s delivered again (attempt %d)", d.Message().ID, d.Attempt())
			}
			seen[d.Message().ID] = true
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if len(seen) == len(msgs) {
			break
		}
		if got, err = bs.NextBatch(ctx, 8, 0); err != nil || len(got) == 0 || len(got) > 4 {
			t.Fatalf("NextBatch(8, no wait) = %d deliveries, %v; want 1 to 4", len(got), err)
		}
	}
	if err := sn.Close(); err != nil {
		t.Fatal(err)
	}
	if ds, err := bs.NextBatch(ctx, 8, 0); !errors.Is(err, eventbus.ErrClosed) || len(ds) != 0 {
		t.Fatalf("NextBatch after Close = %d deliveries, %v; want none and ErrClosed", len(ds), err)
	}
}
