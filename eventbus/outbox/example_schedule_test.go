package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/sqldialect"
)

// Scheduling an event in the transaction of the change it follows: the
// order's confirmation is published at once, its payment reminder in 24
// hours by whatever relay runs then, on any broker. Until it is due, the
// reminder counts as scheduled, not as backlog.
func ExampleAddAfter() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "outbox-schedule-example")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", sqldialect.SQLiteDSN(filepath.Join(dir, "shop.db")))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := outbox.Migrate(ctx, db, sqldialect.SQLite); err != nil {
		log.Fatal(err)
	}

	tx, _ := db.BeginTx(ctx, nil)
	confirmed, _ := eventbus.NewMessage("order.confirmed", map[string]any{"orderId": "o-1"})
	reminder, _ := eventbus.NewMessage("order.payment_reminder", map[string]any{"orderId": "o-1"})
	confirmed.Subject, reminder.Subject = "o-1", "o-1"
	if err := outbox.Add(ctx, tx, confirmed); err != nil {
		log.Fatal(err)
	}
	if err := outbox.AddAfter(ctx, tx, 24*time.Hour, reminder); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}

	bus, _ := memory.New()
	defer bus.Close(ctx)
	sub, _ := bus.Subscribe(ctx, "mailer", "order.>")
	relay, _ := outbox.NewRelay(db, sqldialect.SQLite, bus)
	n, err := relay.RelayOnce(ctx) // Run would also wake for the reminder in 24h
	fmt.Println("relayed", n, err)
	d, _ := sub.Next(ctx)
	fmt.Println("received", d.Message().Type)
	_ = d.Ack(ctx)

	b, _ := outbox.ReadBacklog(ctx, db, sqldialect.SQLite)
	fmt.Println("pending", b.Pending, "scheduled", b.Scheduled, "next due in", time.Until(b.NextDueAt).Round(time.Hour))
	// Output:
	// relayed 1 <nil>
	// received order.confirmed
	// pending 0 scheduled 1 next due in 24h0m0s
}
