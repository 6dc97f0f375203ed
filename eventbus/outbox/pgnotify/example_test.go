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

// The relay publishes an event as soon as the transaction that added it
// commits, and still polls as a safety net.
func Example() {
	run := func(ctx context.Context, bus eventbus.Publisher) error {
		db, err := sql.Open("pgx", "postgres://localhost/shop")
		if err != nil {
			return err
		}
		defer db.Close()
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
	_ = run // started from main with the service's context and bus
}
