package redisbus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/redisbus"
	"github.com/redis/go-redis/v9"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func subscribe(t *testing.T, b *redisbus.Bus, group, pattern string, opts ...eventbus.SubscribeOption) eventbus.Subscription {
	t.Helper()
	sn, err := b.Subscribe(ctxFor(t), group, pattern, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sn.Close() })
	return sn
}

func next(t *testing.T, sn eventbus.Subscription) eventbus.Delivery {
	t.Helper()
	d, err := sn.Next(ctxFor(t))
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return d
}

func messages(typ string, n int) []*eventbus.Message {
	msgs := make([]*eventbus.Message, n)
	for i := range msgs {
		msgs[i] = &eventbus.Message{ID: eventbus.NewID(), Type: typ, Subject: fmt.Sprint("s-", i), Data: fmt.Appendf(nil, `{"n":%d}`, i)}
	}
	return msgs
}

func entryIDs(t *testing.T, rdb *redis.Client, stream string) []string {
	t.Helper()
	es, err := rdb.XRange(ctxFor(t), stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

// TestTrimKeepsUnacknowledged: trimming to a max length of zero removes
// what every group acknowledged and stops at the first entry a group still
// holds unacknowledged, which the group then still receives.
func TestTrimKeepsUnacknowledged(t *testing.T) {
	addr := sharedAddr(t)
	stream := uniqueStream(t, addr)
	b := connect(t, addr, redisbus.WithStream(stream), redisbus.WithMaxLen(0), redisbus.WithTrimInterval(0),
		redisbus.WithConfirmedAcks())
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx := ctxFor(t)

	fast := subscribe(t, b, "fast", "trim.>", eventbus.WithPrefetch(1))
	slow := subscribe(t, b, "slow", "trim.>", eventbus.WithPrefetch(1))
	msgs := messages("trim.done", 5)
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	for range msgs {
		if err := next(t, fast).Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	first := next(t, slow)
	if err := first.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	held := next(t, slow) // never acknowledged
	if held.Message().ID != msgs[1].ID {
		t.Fatalf("slow group got %s second, want %s", held.Message().ID, msgs[1].ID)
	}
	before := entryIDs(t, rdb, stream)
	if len(before) != 5 {
		t.Fatalf("stream holds %d entries before trimming, want 5", len(before))
	}
	removed, err := b.Trim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := entryIDs(t, rdb, stream)
	if removed != 1 || len(after) != 4 || after[0] != before[1] {
		t.Fatalf("trim removed %d, left %v; want 1 removed and %v left (the unacknowledged entry first)", removed, after, before[1:])
	}
	if safe, err := b.SafeMinID(ctx); err != nil || safe != before[1] {
		t.Fatalf("SafeMinID = %q, %v; want %q", safe, err, before[1])
	}
	// The unacknowledged entry is still the group's: another instance gets
	// it once this one is gone.
	if err := slow.Close(); err != nil {
		t.Fatal(err)
	}
	// It comes as a claim, among the entries the group has not read yet.
	again := subscribe(t, b, "slow", "trim.>", eventbus.WithPrefetch(1))
	for range msgs[1:] {
		d := next(t, again)
		if d.Message().ID != msgs[1].ID {
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if d.Attempt() != 2 {
			t.Fatalf("after the trim the group got %s as attempt %d, want attempt 2", d.Message().ID, d.Attempt())
		}
		return
	}
	t.Fatalf("after the trim the group never got %s", msgs[1].ID)
}

// TestTrimMaxLen: with no group on the stream the max length alone decides;
// entries a group has not read yet are kept beyond it.
func TestTrimMaxLen(t *testing.T) {
	addr := sharedAddr(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for _, tc := range []struct {
		name      string
		withGroup bool
		wantLeft  int
	}{
		{"no group", false, 3},
		{"group behind", true, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := uniqueStream(t, addr)
			b := connect(t, addr, redisbus.WithStream(stream), redisbus.WithMaxLen(3), redisbus.WithTrimInterval(0))
			ctx := ctxFor(t)
			if tc.withGroup { // a group with no consumer running: it reads nothing
				if err := rdb.XGroupCreateMkStream(ctx, stream, redisbus.GroupName("behind", "trim.>"), "$").Err(); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Publish(ctx, messages("trim.len", 10)...); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Trim(ctx); err != nil {
				t.Fatal(err)
			}
			if n := rdb.XLen(ctx, stream).Val(); n != int64(tc.wantLeft) {
				t.Fatalf("stream holds %d entries after trimming, want %d", n, tc.wantLeft)
			}
		})
	}
}
