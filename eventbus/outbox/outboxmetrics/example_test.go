package outboxmetrics_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	_ "modernc.org/sqlite"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/eventbus/outbox/outboxmetrics"
	"github.com/go-microkit/microkit/sqldialect"
)

// Metrics is a listener: register it once, pass it to every relay.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "outboxmetrics-example")
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
	event, _ := eventbus.NewMessage("order.created", map[string]any{"orderId": "o-1"})
	if err := outbox.Add(ctx, tx, event); err != nil {
		log.Fatal(err)
	}
	_ = tx.Commit()

	reg := prometheus.NewRegistry() // in a service: the registry /metrics serves
	metrics, err := outboxmetrics.New(reg)
	if err != nil {
		log.Fatal(err)
	}
	bus, _ := memory.New()
	defer bus.Close(ctx)
	relay, err := outbox.NewRelay(db, sqldialect.SQLite, bus, outbox.WithListener(metrics))
	if err != nil {
		log.Fatal(err)
	}
	_, _ = relay.RelayOnce(ctx)

	families, _ := reg.Gather()
	for _, f := range families {
		if f.GetName() == "microkit_outbox_events_relayed_total" {
			m := f.GetMetric()[0]
			fmt.Println(f.GetName(), m.GetLabel()[0].GetValue(), m.GetCounter().GetValue())
		}
	}
	// Output: microkit_outbox_events_relayed_total microkit_outbox 1
}
