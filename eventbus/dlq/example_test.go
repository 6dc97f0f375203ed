package dlq_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/dlq"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/sqldialect"
	_ "modernc.org/sqlite"
)

// List what was dead-lettered, then replay it to its original type.
func Example() {
	ctx := context.Background()
	store, done := exampleStore(ctx)
	defer done()

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

// Page through one group's dead letters newest first, as an operator
// console does, after the overview's counts; then replay them all.
func ExampleStore_List() {
	ctx := context.Background()
	store, done := exampleStore(ctx)
	defer done()
	for i, group := range []string{"billing", "billing", "shipping", "billing", "billing", "billing"} {
		if err := store.Park(ctx, &eventbus.Message{ID: fmt.Sprintf("evt-%d.deadletter.1", i), Type: "deadletter.order.created",
			Metadata: map[string]string{
				eventbus.MetaDeadLetterOriginalType: "order.created",
				eventbus.MetaDeadLetterOriginalID:   fmt.Sprintf("evt-%d", i),
				eventbus.MetaDeadLetterGroup:        group,
				eventbus.MetaDeadLetterTime:         fmt.Sprintf("2026-03-01T10:0%d:00Z", i),
			}}); err != nil {
			log.Fatal(err)
		}
	}

	groups, _ := store.Groups(ctx)
	for _, g := range groups {
		fmt.Printf("%s: %d waiting, oldest %s\n", g.Group, g.Count, g.Oldest.Format(time.TimeOnly))
	}
	f := dlq.Filter{Group: "billing", Newest: true, Limit: 2}
	for {
		page, err := store.List(ctx, f)
		if err != nil {
			log.Fatal(err)
		}
		var ids []string
		for _, e := range page {
			ids = append(ids, e.ID)
		}
		fmt.Println(strings.Join(ids, " "))
		if len(page) < f.Limit {
			break // the last page
		}
		next := page[len(page)-1].Cursor() // or its MarshalText, in a link
		f.After = &next
	}

	bus, _ := memory.New()
	defer bus.Close(ctx)
	n, err := store.ReplayMatching(ctx, bus, dlq.Filter{Group: "billing"})
	left, _ := store.Count(ctx, dlq.Filter{Group: "billing"})
	fmt.Println("replayed", n, err, "left", left)
	// Output:
	// billing: 5 waiting, oldest 10:00:00
	// shipping: 1 waiting, oldest 10:02:00
	// evt-5.deadletter.1 evt-4.deadletter.1
	// evt-3.deadletter.1 evt-1.deadletter.1
	// evt-0.deadletter.1
	// replayed 5 <nil> left 0
}

// exampleStore returns a migrated store in a new SQLite file, and the
// function that removes it.
func exampleStore(ctx context.Context) (*dlq.Store, func()) {
	dir, err := os.MkdirTemp("", "dlq-example")
	if err != nil {
		log.Fatal(err)
	}
	db, err := sql.Open("sqlite", sqldialect.SQLiteDSN(filepath.Join(dir, "dlq.db")))
	if err != nil {
		log.Fatal(err)
	}
	done := func() { _ = db.Close(); _ = os.RemoveAll(dir) }
	store, _ := dlq.New(db, sqldialect.SQLite)
	if err := store.Migrate(ctx); err != nil {
		done()
		log.Fatal(err)
	}
	return store, done
}
