package sqlbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/sqlbus"
	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/go-microkit/microkit/sqldialect"
)

// TestServerRestart runs both suites on a PostgreSQL cluster of the
// test's own, which they stop and start while a publisher and routers run
// (never the shared server): publishes retry until the server is back,
// subscriptions claim again, the listener listens again, and nothing
// published is lost.
func TestServerRestart(t *testing.T) {
	testenv.Addr(t, sqltest.PostgresEnv) // the suites' integration gate
	srv := sqltest.StartPostgres(t)
	admin, err := sqldb.Open(sqldialect.Postgres, srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	migrate(t, admin, sqldialect.Postgres)
	db := database{sqldialect.Postgres, srv.DSN()}
	restart := func(t *testing.T) {
		srv.Stop(t)
		srv.Start(t)
	}
	connect := instances(db)
	confirmed := instances(db, sqlbus.WithConfirmedAcks())
	t.Run("conformance", func(t *testing.T) {
		eventbustest.Run(t, eventbustest.Config{Connect: connect, Restart: restart})
	})
	t.Run("composition", func(t *testing.T) {
		eventbustest.RunComposition(t, eventbustest.Config{
			Connect:          confirmed,
			Restart:          restart,
			SubscribeOptions: []eventbus.SubscribeOption{eventbus.WithPrefetch(2)},
			Seeds:            4,
		})
	})
	// The server is up again: the admin pool reconnects.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
}
