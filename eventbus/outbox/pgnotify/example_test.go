package pgnotify_test

import (
	"context"
	"database/sql"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/eventbus/outbox/pgnotify"
	"github.com/go-microkit/microkit/sqldialect"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver the listener needs
)

// A relay publishes an event as soon as the transaction that added it
// commits, in whichever process: the producer notifies after its commit,
// the relay's Listener wakes it. Polling stays the safety net.
func Example() {
	// The relay's process.
	relay := func(ctx context.Context, db *sql.DB, bus eventbus.Publisher) error {
		if err := outbox.Migrate(ctx, db, sqldialect.Postgres); err != nil {
			return err
		}
		l := pgnotify.New(db, outbox.DefaultTable)
		defer l.Close(context.Background()) // after the relay's Run returned
		relay, err := outbox.NewRelay(db, sqldialect.Postgres, bus, outbox.WithWaker(l))
		if err != nil {
			return err
		}
		return relay.Run(ctx)
	}
	// A producer's process: one Notifier for all its transactions.
	produce := func(ctx context.Context, db *sql.DB, events <-chan *eventbus.Message) error {
		n := pgnotify.NewNotifier(db, outbox.DefaultTable)
		defer n.Close(context.Background()) // sends a notification still pending
		for event := range events {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			// ... the business change ...
			if err := outbox.Add(ctx, tx, event); err != nil {
				_ = tx.Rollback()
				return err
			}
			if err := tx.Commit(); err != nil {
				return err
			}
			n.Notify() // after the commit; never blocks
		}
		return nil
	}
	_, _ = relay, produce // started from main with the service's context, database and bus
}
