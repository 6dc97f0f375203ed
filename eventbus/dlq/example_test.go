package dlq_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/dlq"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/sqldialect"
	_ "modernc.org/sqlite"
)

// List what was dead-lettered, then replay it to its original type.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "dlq-example")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", sqldialect.SQLiteDSN(filepath.Join(dir, "dlq.db")))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store, _ := dlq.New(db, sqldialect.SQLite)
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	// What eventbus.DeadLetter publishes for a message that failed for good;
	// a router running store.Handler() on "deadletter.>" parks it.
	parked := &eventbus.Message{ID: "evt-7.deadletter.5c0ffee15c0ffee1", Type: "deadletter.order.created", Data: []byte(`{"orderId":"o-7"}`),
		Metadata: map[string]string{
			eventbus.MetaDeadLetterOriginalType: "order.created",
			eventbus.MetaDeadLetterOriginalID:   "evt-7",
			eventbus.MetaDeadLetterReason:       "unknown currency XTS",
			eventbus.MetaDeadLetterAttempts:     "5",
			eventbus.MetaDeadLetterGroup:        "billing",
			eventbus.MetaDeadLetterTime:         "2026-03-01T10:00:00Z",
		}}
	if err := store.Park(ctx, parked); err != nil {
		log.Fatal(err)
	}

	entries, _ := store.List(ctx, dlq.Filter{Type: "order.>"})
	for _, e := range entries {
		fmt.Printf("%s %s in %s after %d attempts: %s\n", e.ID, e.OriginalType, e.Group, e.Attempts, e.Reason)
	}

	bus, _ := memory.New()
	defer bus.Close(ctx)
	sub, _ := bus.Subscribe(ctx, "billing", "order.created")
	if err := store.Replay(ctx, bus, entries[0].ID); err != nil {
		log.Fatal(err)
	}
	d, _ := sub.Next(ctx)
	fmt.Println("replayed", d.Message().ID, d.Message().Type, string(d.Message().Data))
	_ = d.Ack(ctx)
	// Output:
	// evt-7.deadletter.5c0ffee15c0ffee1 order.created in billing after 5 attempts: unknown currency XTS
	// replayed evt-7 order.created {"orderId":"o-7"}
}
