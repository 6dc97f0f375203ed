package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sqlstore"
	"github.com/go-microkit/microkit/sqldialect"
	_ "modernc.org/sqlite"
)

// A durable orchestrator on an embedded SQLite file: migrate once, register
// the sagas, recover what a crash left in flight, then serve.
func Example() {
	dir, _ := os.MkdirTemp("", "sagas")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	db, err := sql.Open("sqlite", sqldialect.SQLiteDSN(filepath.Join(dir, "sagas.db")))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if err := sqlstore.Migrate(ctx, db, sqldialect.SQLite); err != nil {
		panic(err)
	}
	store, err := sqlstore.New(db, sqldialect.SQLite)
	if err != nil {
		panic(err)
	}

	type transfer struct{ Amount int }
	move, _ := saga.New("transfer",
		saga.Step[transfer]{Name: "debit", Execute: func(ctx context.Context, t *transfer) error { return nil }},
		saga.Step[transfer]{Name: "credit", Execute: func(ctx context.Context, t *transfer) error { return nil }},
	)
	o, err := saga.NewOrchestrator(store, saga.WithOwnerID("payments-0"))
	if err != nil {
		panic(err)
	}
	defer o.Close(ctx)
	if err := o.Register(move); err != nil {
		panic(err)
	}
	if _, err := o.Recover(ctx); err != nil {
		panic(err)
	}

	if _, err := move.Run(ctx, o, transfer{Amount: 100}, saga.WithID("t-1")); err != nil {
		panic(err)
	}
	rec, _ := store.Get(ctx, "t-1")
	fmt.Println(rec.Status, rec.Version, string(rec.State))
	// Output: completed 3 {"Amount":100}
}

// PostgreSQL through pgx's database/sql driver (import
// _ "github.com/jackc/pgx/v5/stdlib"). Size the pool for the sagas you run
// at once, all kept open when idle, or the pool reconnects on most
// transitions.
func Example_postgres() {
	ctx := context.Background()
	db, err := sql.Open("pgx", "postgres://app@db:5432/shop?sslmode=disable")
	if err != nil {
		panic(err)
	}
	sqldialect.SetPoolSize(db, 32)
	table := sqlstore.WithTable("order_sagas")
	if err := sqlstore.Migrate(ctx, db, sqldialect.Postgres, table); err != nil {
		fmt.Println(err)
		return
	}
	store, _ := sqlstore.New(db, sqldialect.Postgres, table)
	_, _ = saga.NewOrchestrator(store)
}
