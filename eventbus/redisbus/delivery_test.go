package redisbus_test

import (
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/redisbus"
	"github.com/go-microkit/microkit/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestAttemptCountsNacks: each Nack's redelivery counts one more attempt,
// read from the group's pending entries list.
func TestAttemptCountsNacks(t *testing.T) {
	addr := sharedAddr(t)
	b := connect(t, addr, redisbus.WithStream(uniqueStream(t, addr)))
	sn := subscribe(t, b, "retrying", "job.run")
	ctx := ctxFor(t)
	m := messages("job.run", 1)[0]
	if err := b.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 4; want++ {
		d := next(t, sn)
		if d.Message().ID != m.ID || d.Attempt() != want {
			t.Fatalf("got %s attempt %d, want %s attempt %d", d.Message().ID, d.Attempt(), m.ID, want)
		}
		if want == 4 {
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			break
		}
		if err := d.Nack(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if err := d.Ack(ctx); err != eventbus.ErrStaleDelivery {
			t.Fatalf("Ack after Nack = %v, want ErrStaleDelivery", err)
		}
	}
}

// TestNackDelaySurvivesRestart: a delayed redelivery is kept in Redis, not
// in the process: a new instance of the group gets it after the delay, not
// before, as the next attempt. Delays shorter and longer than the claim
// min idle take the two paths of Nack.
func TestNackDelaySurvivesRestart(t *testing.T) {
	addr := sharedAddr(t)
	const minIdle = 300 * time.Millisecond
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{
		{"shorter than min idle", 200 * time.Millisecond},
		{"longer than min idle", 900 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := uniqueStream(t, addr)
			first := connect(t, addr, redisbus.WithStream(stream), redisbus.WithClaimMinIdle(minIdle))
			ctx := ctxFor(t)
			sn := subscribe(t, first, "later", "mail.send")
			m := messages("mail.send", 1)[0]
			if err := first.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
			d := next(t, sn)
			nacked := time.Now()
			if err := d.Nack(ctx, tc.delay); err != nil {
				t.Fatal(err)
			}
			// The process goes away before the delay ends.
			if err := first.Close(ctx); err != nil {
				t.Fatal(err)
			}
			second := connect(t, addr, redisbus.WithStream(stream), redisbus.WithClaimMinIdle(minIdle))
			d2 := next(t, subscribe(t, second, "later", "mail.send"))
			// Redis counts whole milliseconds: allow one.
			if early := tc.delay - time.Since(nacked); early > time.Millisecond {
				t.Fatalf("redelivered %s before the delay of %s ended", early, tc.delay)
			}
			if d2.Message().ID != m.ID || d2.Attempt() != 2 {
				t.Fatalf("got %s attempt %d, want %s attempt 2", d2.Message().ID, d2.Attempt(), m.ID)
			}
			if err := d2.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestOtherTypesAcknowledged: a group reads the whole stream and
// acknowledges what its pattern does not match, so that nothing of other
// types stays pending for it.
func TestOtherTypesAcknowledged(t *testing.T) {
	addr := sharedAddr(t)
	stream := uniqueStream(t, addr)
	b := connect(t, addr, redisbus.WithStream(stream), redisbus.WithConfirmedAcks())
	sn := subscribe(t, b, "orders", "order.*")
	ctx := ctxFor(t)
	other, mine := messages("invoice.sent", 3), messages("order.created", 1)
	if err := b.Publish(ctx, append(other, mine...)...); err != nil {
		t.Fatal(err)
	}
	d := next(t, sn)
	if d.Message().ID != mine[0].ID {
		t.Fatalf("got %s (%s), want %s", d.Message().ID, d.Message().Type, mine[0].ID)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// The skipped entries were acknowledged before the matching one was
	// handed out (one ack queue, in order), and the ack above confirmed.
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	p, err := rdb.XPending(ctx, stream, redisbus.GroupName("orders", "order.*")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if p.Count != 0 {
		t.Fatalf("%d entries pending, want none", p.Count)
	}
}

// TestGroupRecreated: a subscription whose group disappears (deleted, or
// lost by a server restarted without persistence) creates it again and
// goes on receiving.
func TestGroupRecreated(t *testing.T) {
	addr := sharedAddr(t)
	stream := uniqueStream(t, addr)
	b := connect(t, addr, redisbus.WithStream(stream))
	sn := subscribe(t, b, "phoenix", "ping")
	ctx := ctxFor(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	if err := rdb.XGroupDestroy(ctx, stream, redisbus.GroupName("phoenix", "ping")).Err(); err != nil {
		t.Fatal(err)
	}
	m := messages("ping", 1)[0]
	if err := b.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	if d := next(t, sn); d.Message().ID != m.ID {
		t.Fatalf("got %s, want %s", d.Message().ID, m.ID)
	}
}

// TestAttemptSurvivesServerRestart: the delivery counter lives in the
// group's PEL, which a server with persistence keeps across a restart: an
// entry delivered twice before the restart and never settled comes back
// after it, to another instance, as attempt 3.
func TestAttemptSurvivesServerRestart(t *testing.T) {
	srv := redistest.Start(t)
	first := connect(t, srv.Addr())
	ctx := ctxFor(t)
	sn := subscribe(t, first, "durable", "invoice.issued")
	m := messages("invoice.issued", 1)[0]
	if err := first.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := next(t, sn).Nack(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if d := next(t, sn); d.Attempt() != 2 {
		t.Fatalf("redelivery before the restart is attempt %d, want 2", d.Attempt())
	}
	srv.Restart(t)
	// The first instance goes away without settling its delivery.
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	second := connect(t, srv.Addr())
	d := next(t, subscribe(t, second, "durable", "invoice.issued"))
	if d.Message().ID != m.ID || d.Attempt() != 3 {
		t.Fatalf("after the restart got %s attempt %d, want %s attempt 3", d.Message().ID, d.Attempt(), m.ID)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
}
