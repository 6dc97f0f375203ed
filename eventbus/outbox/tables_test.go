package outbox_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
)

// TestCustomTables: Migrate, Outbox, Relay and Inbox agree on tables named
// by WithTable and WithInboxTable, which leave the default tables alone.
func TestCustomTables(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			tables := []outbox.Option{outbox.WithTable("billing_outbox"), outbox.WithInboxTable("billing_inbox")}
			if err := outbox.Migrate(ctx, d.db, d.dialect, tables...); err != nil {
				t.Fatal(err)
			}
			if err := outbox.Migrate(ctx, d.db, d.dialect, tables...); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			ob, err := outbox.New(tables...)
			if err != nil {
				t.Fatal(err)
			}
			e := orderCreated(t, "o-1", 1)
			tx, err := d.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := ob.Add(ctx, tx, e); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if n := d.count(t, "SELECT count(*) FROM microkit_outbox"); n != 0 {
				t.Fatalf("default outbox has %d rows, want 0", n)
			}
			bus := newBus(t)
			got := collect(t, bus, "order.>")
			if n, err := newRelay(t, d, bus, tables...).RelayOnce(ctx); err != nil || n != 1 {
				t.Fatalf("RelayOnce = %d, %v", n, err)
			}
			got.waitFor(t, 1)
			in, err := outbox.NewInbox(d.db, d.dialect, tables...)
			if err != nil {
				t.Fatal(err)
			}
			nop := func(context.Context, *sql.Tx, *eventbus.Message) error { return nil }
			if ran, err := in.Process(ctx, "c", e, nop); err != nil || !ran {
				t.Fatalf("Process = %v, %v", ran, err)
			}
			if n := d.count(t, "SELECT count(*) FROM billing_inbox"); n != 1 {
				t.Fatalf("billing_inbox has %d marks, want 1", n)
			}
		})
	}
}
