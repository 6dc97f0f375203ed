package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/sqldialect"
	_ "modernc.org/sqlite"
)

// A "create order" handler without the dual write: the order and its
// OrderCreated event commit together, and the relay publishes the event.
// On the consuming side, the inbox makes a redelivery harmless.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "outbox-example")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", sqldialect.SQLiteDSN(filepath.Join(dir, "shop.db")))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := outbox.Migrate(ctx, db, sqldialect.SQLite); err != nil {
		log.Fatal(err)
	}
	_, _ = db.ExecContext(ctx, "CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER)")
	_, _ = db.ExecContext(ctx, "CREATE TABLE invoices (order_id TEXT, total INTEGER)")

	// Producer: save the order and its event in one transaction.
	tx, _ := db.BeginTx(ctx, nil)
	_, _ = tx.ExecContext(ctx, "INSERT INTO orders (id, total) VALUES ($1, $2)", "o-1", 1250)
	event, _ := eventbus.NewMessage("order.created", map[string]any{"orderId": "o-1", "total": 1250})
	event.Subject = "o-1"
	if err := outbox.Add(ctx, tx, event); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}

	// Relay: publish what was committed.
	bus, _ := memory.New()
	defer bus.Close(ctx)
	sub, _ := bus.Subscribe(ctx, "billing", "order.created")
	relay, _ := outbox.NewRelay(db, sqldialect.SQLite, bus)
	n, err := relay.RelayOnce(ctx)
	fmt.Println("relayed", n, err)

	// Consumer: the inbox runs the handler once per message ID.
	inbox, _ := outbox.NewInbox(db, sqldialect.SQLite)
	bill := func(ctx context.Context, tx *sql.Tx, msg *eventbus.Message) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO invoices (order_id, total) VALUES ($1, 1250)", msg.Subject)
		return err
	}
	d, _ := sub.Next(ctx)
	for range 2 { // delivered twice
		ran, err := inbox.Process(ctx, "billing", d.Message(), bill)
		fmt.Println("handler ran:", ran, err)
	}
	_ = d.Ack(ctx)
	var invoices int
	_ = db.QueryRowContext(ctx, "SELECT count(*) FROM invoices").Scan(&invoices)
	fmt.Println("invoices:", invoices)
	// Output:
	// relayed 1 <nil>
	// handler ran: true <nil>
	// handler ran: false <nil>
	// invoices: 1
}
