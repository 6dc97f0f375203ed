package sqlbus_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/sqlbus"
	"github.com/go-microkit/microkit/sqldialect"
	_ "modernc.org/sqlite"
)

// An order and its OrderCreated event commit in one transaction, with the
// database as the broker: no outbox, no relay, no broker to run.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "sqlbus-example")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", sqldialect.SQLiteDSN(filepath.Join(dir, "shop.db")))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := sqlbus.Migrate(ctx, db, sqldialect.SQLite); err != nil {
		log.Fatal(err)
	}
	_, _ = db.ExecContext(ctx, "CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER)")

	// On SQLite a subscription sees a transactional publish at its next
	// poll; on PostgreSQL the commit's notification wakes it at once.
	bus, err := sqlbus.New(db, sqldialect.SQLite, sqlbus.WithPollInterval(100*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close(ctx)
	sub, _ := bus.Subscribe(ctx, "billing", "order.*")

	// Producer: the order and its event, in one transaction.
	tx, _ := db.BeginTx(ctx, nil)
	_, _ = tx.ExecContext(ctx, "INSERT INTO orders (id, total) VALUES ($1, $2)", "o-1", 1250)
	event, _ := eventbus.NewMessage("order.created", map[string]any{"orderId": "o-1", "total": 1250})
	event.Subject = "o-1"
	if err := bus.PublishTx(ctx, tx, event); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}

	// Consumer (usually an eventbus.Router on the bus).
	d, err := sub.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Message().Type, d.Message().Subject, "attempt", d.Attempt())
	fmt.Println("ack:", d.Ack(ctx))
	// Output:
	// order.created o-1 attempt 1
	// ack: <nil>
}
