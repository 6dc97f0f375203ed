package pgnotify_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
)

// TestScheduledWakesRelay: a relay polling once an hour, woken by
// LISTEN/NOTIFY, sleeps until the earliest due time, here an hour ahead;
// an event due in a second, scheduled by another process (a connection
// pool of its own, with a Notifier) while it sleeps, wakes it through the
// notification and moves its wake-up: the
// event is received, not before its due time, well within the hour (the
// 30s guard is a deadlock guard, not a speed check).
func TestScheduledWakesRelay(t *testing.T) {
	db, table, dsn := openPostgres(t)
	ctx := t.Context()
	sub := runHourly(t, db, table, "order.>")
	producer := openPool(t, dsn)
	n := newNotifier(t, producer, table)
	ob, err := outbox.New(outbox.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	schedule := func(at time.Time) *eventbus.Message {
		t.Helper()
		m, _ := eventbus.NewMessage("order.reminded", map[string]string{"orderId": "o-1"})
		tx, err := producer.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if err := ob.AddAt(ctx, tx, at, m); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		n.Notify()
		return m
	}
	next, cancelNext := context.WithTimeout(ctx, 30*time.Second)
	defer cancelNext()
	receive := func(want *eventbus.Message, due time.Time) {
		t.Helper()
		d, err := sub.Next(next)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want.ID, err)
		}
		if now := time.Now(); d.Message().ID != want.ID || now.Before(due) {
			t.Fatalf("received %s at %v, want %s not before %v", d.Message().ID, now, want.ID, due)
		}
		_ = d.Ack(ctx)
	}
	schedule(time.Now().Add(time.Hour))
	// An unscheduled event, received once the relay's round published it;
	// the relay then sleeps until the event due in an hour.
	now := add(t, producer, table)
	n.Notify()
	receive(now, time.Time{})
	earlyAt := time.Now().Add(time.Second)
	receive(schedule(earlyAt), earlyAt)
}
