package sqlbus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/sqlbus"
	"github.com/go-microkit/microkit/sqldialect"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newMsg(typ string) *eventbus.Message {
	return &eventbus.Message{ID: eventbus.NewID(), Type: typ, Data: []byte(`{}`)}
}

// drain receives n deliveries from sub, acking each, then looks briefly
// for one more (published messages are claimed in order, so an extra one
// would most likely be among the n), and returns their types sorted.
func drain(t *testing.T, sub eventbus.Subscription, n int) []string {
	t.Helper()
	var got []string
	for len(got) <= n {
		wait := 30 * time.Second
		if len(got) == n {
			wait = 100 * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		d, err := sub.Next(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Message().Type)
		if err := d.Ack(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(got)
	return got
}

// TestPatternsMatchExactly: each group receives exactly the types that
// eventbus.Match accepts, including the cases the SQL condition matches
// too widely ("*" before a literal in a ">" pattern, case on SQLite) and
// types holding LIKE's special characters.
func TestPatternsMatchExactly(t *testing.T) {
	types := []string{"a.b", "a.b.c", "x.y.b.z", "x.b.z", "A.B", "a%b.c", "a_b.c", "aXb.c", `a\b.c`, "a.bc", "b"}
	patterns := []string{"a.b", "a.*", "a.>", "*.b.>", "*", ">", "a%b.*", "a_b.c", `a\b.>`, "A.b"}
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			bus, _ := open(t, d).connect(t)
			ctx := testCtx(t)
			subs := make([]eventbus.Subscription, len(patterns))
			for i, p := range patterns {
				sub, err := bus.Subscribe(ctx, fmt.Sprint("g", i), p)
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Close()
				subs[i] = sub
			}
			for _, typ := range types {
				if err := bus.Publish(ctx, newMsg(typ)); err != nil {
					t.Fatal(err)
				}
			}
			for i, p := range patterns {
				var want []string
				for _, typ := range types {
					if eventbus.Match(p, typ) {
						want = append(want, typ)
					}
				}
				slices.Sort(want)
				if got := drain(t, subs[i], len(want)); !slices.Equal(got, want) {
					t.Errorf("pattern %q received %q, want %q", p, got, want)
				}
			}
		})
	}
}

// TestPublishTx: a message published in a transaction is delivered if
// and only if the transaction commits.
func TestPublishTx(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			bus, db := open(t, d).connect(t, sqlbus.WithPollInterval(50*time.Millisecond))
			ctx := testCtx(t)
			sub, err := bus.Subscribe(ctx, "billing", "order.*")
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			for _, commit := range []bool{false, true} {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				typ := "order.rolledback"
				if commit {
					typ = "order.committed"
				}
				if err := bus.PublishTx(ctx, tx, newMsg(typ)); err != nil {
					t.Fatal(err)
				}
				if commit {
					err = tx.Commit()
				} else {
					err = tx.Rollback()
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := drain(t, sub, 1); !slices.Equal(got, []string{"order.committed"}) {
				t.Errorf("delivered %q, want only the committed message", got)
			}
			if err := bus.PublishTx(ctx, nil, newMsg("order.x")); !errors.Is(err, eventbus.ErrInvalidOption) {
				t.Errorf("PublishTx(nil tx) = %v, want ErrInvalidOption", err)
			}
		})
	}
}

// TestVisibilityTimeout: a delivery left unsettled comes back after the
// visibility timeout, to another instance, with its attempt counted; the
// first consumer's late Ack is refused and does not remove the second
// claim.
func TestVisibilityTimeout(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			db := open(t, d)
			// The first instance must not claim the delivery again itself
			// once its lease ends, which the bus allows (see
			// TestHungDeliveryClaimedAgainByItsSubscription): it has no
			// Waker, polls rarely, and claims the three messages in one
			// statement (they are published in one), so that handing out
			// one leaves more than half of its prefetch queued and starts
			// no claim. A prefetch of one would claim again at once, and
			// on a slow machine after the lease ended.
			one, _ := db.bus(t, sqlbus.WithAckWait(300*time.Millisecond), sqlbus.WithPollInterval(time.Minute), sqlbus.WithConfirmedAcks())
			two, _ := db.connect(t, sqlbus.WithAckWait(time.Minute), sqlbus.WithPollInterval(50*time.Millisecond))
			ctx := testCtx(t)
			a, err := one.Subscribe(ctx, "workers", "job.run", eventbus.WithPrefetch(3))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if err := one.Publish(ctx, newMsg("job.run"), newMsg("job.run"), newMsg("job.run")); err != nil {
				t.Fatal(err)
			}
			first, err := a.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if first.Attempt() != 1 {
				t.Fatalf("first delivery attempt %d, want 1", first.Attempt())
			}
			b, err := two.Subscribe(ctx, "workers", "job.run")
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			// The first instance's two queued deliveries come back too, and
			// before first's own if its Next renewed that lease: skip them.
			var second eventbus.Delivery
			for second == nil || second.Message().ID != first.Message().ID {
				if second, err = b.Next(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if second.Attempt() != 2 {
				t.Fatalf("second delivery attempt %d, want 2", second.Attempt())
			}
			if err := first.Ack(ctx); !errors.Is(err, eventbus.ErrStaleDelivery) {
				t.Errorf("late Ack = %v, want ErrStaleDelivery", err)
			}
			if err := second.Ack(ctx); err != nil {
				t.Errorf("Ack of the current claim: %v", err)
			}
		})
	}
}

// TestHungDeliveryClaimedAgainByItsSubscription: a delivery whose
// consumer hangs past the visibility timeout is claimed again by any
// instance, its own subscription included, so that a deployment of one
// instance gets it to another worker; the hung consumer's late Ack is
// refused.
func TestHungDeliveryClaimedAgainByItsSubscription(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			bus, _ := open(t, d).bus(t, sqlbus.WithAckWait(300*time.Millisecond), sqlbus.WithPollInterval(50*time.Millisecond), sqlbus.WithConfirmedAcks())
			ctx := testCtx(t)
			sub, err := bus.Subscribe(ctx, "workers", "job.run", eventbus.WithPrefetch(1))
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			m := newMsg("job.run")
			if err := bus.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
			hung, err := sub.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if hung.Message().ID != m.ID || hung.Attempt() != 1 {
				t.Fatalf("first delivery %s attempt %d, want %s attempt 1", hung.Message().ID, hung.Attempt(), m.ID)
			}
			// Every claim counts an attempt, and the subscription goes on
			// claiming what it holds once the lease ends: a machine that
			// stalls longer than the lease before a worker takes the
			// delivery sees a later attempt than the second.
			again, err := sub.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if again.Message().ID != m.ID || again.Attempt() < 2 {
				t.Fatalf("second delivery %s attempt %d, want %s attempt 2 or later", again.Message().ID, again.Attempt(), m.ID)
			}
			if err := hung.Ack(ctx); !errors.Is(err, eventbus.ErrStaleDelivery) {
				t.Errorf("late Ack = %v, want ErrStaleDelivery", err)
			}
		})
	}
}

// TestQueuedAcksFlushedOnClose: an Ack that was queued when the bus
// closed is recorded all the same: nothing comes back to the next
// instance, while a message that was not acked does.
func TestQueuedAcksFlushedOnClose(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			db := open(t, d)
			one, _ := db.connect(t)
			ctx := testCtx(t)
			sub, err := one.Subscribe(ctx, "g", "q.x")
			if err != nil {
				t.Fatal(err)
			}
			acked, kept := newMsg("q.x"), newMsg("q.x")
			if err := one.Publish(ctx, acked, kept); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				dl, err := sub.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if dl.Message().ID == acked.ID {
					if err := dl.Ack(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := one.Close(ctx); err != nil {
				t.Fatal(err)
			}
			two, _ := db.connect(t)
			sub2, err := two.Subscribe(ctx, "g", "q.x")
			if err != nil {
				t.Fatal(err)
			}
			defer sub2.Close()
			dl, err := sub2.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if dl.Message().ID != kept.ID {
				t.Fatalf("redelivered %s, want only the message that was not acked (%s)", dl.Message().ID, kept.ID)
			}
			_ = dl.Ack(ctx)
			if got := drain(t, sub2, 0); len(got) != 0 {
				t.Errorf("then %q, want nothing", got)
			}
		})
	}
}

// TestEnvelopeRoundTrip: every attribute comes back as published,
// metadata included, and an empty payload stays empty.
func TestEnvelopeRoundTrip(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			bus, _ := open(t, d).connect(t)
			ctx := testCtx(t)
			sub, err := bus.Subscribe(ctx, "g", "env.>")
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			full := &eventbus.Message{ID: "id-1", Type: "env.full", Source: "/orders", Subject: "o-1",
				Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), DataContentType: "text/plain", Data: []byte("hi"),
				Metadata: map[string]string{"traceparent": "00-abc", "k": "v"}}
			bare := &eventbus.Message{ID: "id-2", Type: "env.bare"}
			if err := bus.Publish(ctx, full, bare); err != nil {
				t.Fatal(err)
			}
			for _, want := range []*eventbus.Message{full, bare} {
				dl, err := sub.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got := dl.Message()
				if got.ID != want.ID || got.Type != want.Type || got.Source != want.Source || got.Subject != want.Subject ||
					!got.Time.Equal(want.Time) || got.DataContentType != want.DataContentType ||
					string(got.Data) != string(want.Data) || len(got.Data) != len(want.Data) || fmt.Sprint(got.Metadata) != fmt.Sprint(want.Metadata) {
					t.Errorf("delivered %+v, want %+v", got, want)
				}
				_ = dl.Ack(ctx)
			}
		})
	}
}

// TestPrune: retention deletes what every group consumed, keeps what a
// group still waits for until that group is deleted, and with a maximum
// age deletes old messages whatever is pending.
func TestPrune(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			db := open(t, d)
			bus, sqlDB := db.connect(t, sqlbus.WithRetention(0, 0))
			ctx := testCtx(t)
			fast, err := bus.Subscribe(ctx, "fast", "p.>")
			if err != nil {
				t.Fatal(err)
			}
			defer fast.Close()
			slow, err := bus.Subscribe(ctx, "slow", "p.slow")
			if err != nil {
				t.Fatal(err)
			}
			slow.Close() // registered, not consuming
			// One call each: the messages of one call share a row, which
			// goes when all of them are consumed.
			for _, typ := range []string{"p.fast", "p.fast", "p.slow"} {
				if err := bus.Publish(ctx, newMsg(typ)); err != nil {
					t.Fatal(err)
				}
			}
			if got := drain(t, fast, 3); len(got) != 3 {
				t.Fatalf("fast group got %q, want 3 messages", got)
			}
			count := func() (n int) {
				if err := sqlDB.QueryRowContext(ctx, "SELECT count(*) FROM "+sqlbus.DefaultTable).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			steps := []struct {
				name   string
				before func()
				prune  *sqlbus.Bus
				pruned int64
				left   int
			}{
				{"consumed by every group", nil, bus, 2, 1},
				{"nothing more while the slow group waits", nil, bus, 0, 1},
				{"the slow group deleted", func() {
					if err := bus.DeleteGroup(ctx, "slow", "p.slow"); err != nil {
						t.Fatal(err)
					}
				}, bus, 1, 0},
			}
			for _, st := range steps {
				if st.before != nil {
					st.before()
				}
				n, err := st.prune.Prune(ctx)
				if err != nil || n != st.pruned || count() != st.left {
					t.Fatalf("%s: Prune = %d, %v, %d left; want %d pruned, %d left", st.name, n, err, count(), st.pruned, st.left)
				}
			}
			// A maximum age deletes a message a group still waits for.
			if err := bus.Publish(ctx, newMsg("p.fast")); err != nil {
				t.Fatal(err)
			}
			aged, _ := db.connect(t, sqlbus.WithRetention(time.Hour, 0), sqlbus.WithMaxAge(time.Nanosecond))
			time.Sleep(time.Millisecond) // older than the maximum age by the clock's resolution
			if n, err := aged.Prune(ctx); err != nil || n != 1 || count() != 0 {
				t.Fatalf("Prune with a max age = %d, %v, %d left; want 1 pruned, none left", n, err, count())
			}
		})
	}
}

// TestNextBatch: a batch holds what the subscription prefetched and what
// one more claim returns, so it can exceed the prefetch.
func TestNextBatch(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			bus, _ := open(t, d).connect(t)
			ctx := testCtx(t)
			sub, err := bus.Subscribe(ctx, "g", "batch.x", eventbus.WithPrefetch(2))
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			bs, ok := sub.(eventbus.BatchSubscription)
			if !ok {
				t.Fatal("the subscription is not an eventbus.BatchSubscription")
			}
			var msgs []*eventbus.Message
			for range 10 {
				msgs = append(msgs, newMsg("batch.x"))
			}
			if err := bus.Publish(ctx, msgs...); err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for len(seen) < len(msgs) {
				batch, err := bs.NextBatch(ctx, 8, 100*time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				if len(batch) == 0 || len(batch) > 8 {
					t.Fatalf("batch of %d, want 1 to 8", len(batch))
				}
				for _, dl := range batch {
					if seen[dl.Message().ID] || dl.Attempt() != 1 {
						t.Fatalf("%s delivered again (attempt %d)", dl.Message().ID, dl.Attempt())
					}
					seen[dl.Message().ID] = true
					if err := dl.Ack(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			sub.Close()
			if _, err := bs.NextBatch(ctx, 8, 0); !errors.Is(err, eventbus.ErrClosed) {
				t.Errorf("NextBatch after Close = %v, want ErrClosed", err)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	_, sqlDB := open(t, sqldialect.SQLite).connect(t)
	for _, tc := range []struct {
		name string
		opt  sqlbus.Option
	}{
		{"table with upper case", sqlbus.WithTable("Bus")},
		{"table too long", sqlbus.WithTable("a123456789012345678901234567890123456789x")},
		{"zero ack wait", sqlbus.WithAckWait(0)},
		{"zero prefetch", sqlbus.WithPrefetch(0)},
		{"huge prefetch", sqlbus.WithPrefetch(10001)},
		{"zero poll interval", sqlbus.WithPollInterval(0)},
		{"negative retention", sqlbus.WithRetention(-time.Second, time.Minute)},
		{"negative max age", sqlbus.WithMaxAge(-time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sqlbus.New(sqlDB, sqldialect.SQLite, tc.opt)
			if !errors.Is(err, sqlbus.ErrInvalidOption) || !errors.Is(err, eventbus.ErrInvalidOption) {
				t.Errorf("New = %v, want both ErrInvalidOption", err)
			}
		})
	}
	if b, err := sqlbus.New(sqlDB, sqldialect.SQLite, nil); err != nil {
		t.Errorf("New with a nil Option = %v, want it skipped", err)
	} else {
		_ = b.Close(context.Background())
	}
	if _, err := sqlbus.New(nil, sqldialect.SQLite); !errors.Is(err, sqlbus.ErrInvalidOption) {
		t.Errorf("New with no database = %v, want ErrInvalidOption", err)
	}
	if _, err := sqlbus.New(sqlDB, 0); !errors.Is(err, sqlbus.ErrInvalidOption) {
		t.Errorf("New with no dialect = %v, want ErrInvalidOption", err)
	}
	if err := sqlbus.Migrate(context.Background(), sqlDB, sqldialect.SQLite, sqlbus.WithTable("x-y")); !errors.Is(err, sqlbus.ErrInvalidOption) {
		t.Errorf("Migrate with a bad table = %v, want ErrInvalidOption", err)
	}
}

// NextBatch fills its batch from a backlog without waiting out its window:
// when what the subscription held and its own claim fall short, it wakes
// the subscription's claiming, which otherwise claims again only when Next
// takes a delivery (none comes while the batch waits for one) or at its
// poll, here an hour away.
func TestNextBatchFillsFromABacklog(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			bus, _ := open(t, d).bus(t, sqlbus.WithPollInterval(time.Hour))
			ctx := testCtx(t)
			// The group exists first, and keeps the backlog, published in
			// calls of 500 (packs of up to 64).
			sub, err := bus.Subscribe(ctx, "g", "backlog.x")
			if err != nil {
				t.Fatal(err)
			}
			_ = sub.Close()
			const n, size = 2000, 100
			for sent := 0; sent < n; sent += 500 {
				msgs := make([]*eventbus.Message, 500)
				for i := range msgs {
					msgs[i] = newMsg("backlog.x")
				}
				if err := bus.Publish(ctx, msgs...); err != nil {
					t.Fatal(err)
				}
			}
			sub, err = bus.Subscribe(ctx, "g", "backlog.x")
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			bs := sub.(eventbus.BatchSubscription)
			for got := 0; got < n; {
				batch, err := bs.NextBatch(ctx, size, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if len(batch) != size {
					t.Fatalf("a batch of %d after %d of %d: the backlog had %d more", len(batch), got, n, n-got-len(batch))
				}
				for _, dl := range batch {
					if err := dl.Ack(ctx); err != nil {
						t.Fatal(err)
					}
				}
				got += len(batch)
			}
		})
	}
}
