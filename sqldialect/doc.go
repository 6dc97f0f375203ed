// Package sqldialect names the SQL database that microkit's SQL stores run
// on, and holds what each of those databases needs from the program that
// opens it.
//
// Start with [Dialect]: every SQL store takes one ([Postgres] or [SQLite])
// next to the *sql.DB, so one value configures them all:
//
//	db, _ := sql.Open("sqlite", sqldialect.SQLiteDSN("shop.db"))
//	sqldialect.SetPoolSize(db, 8)
//	_ = outbox.Migrate(ctx, db, sqldialect.SQLite)
//	relay, _ := outbox.NewRelay(db, sqldialect.SQLite, bus)
//	inbox, _ := outbox.NewInbox(db, sqldialect.SQLite)
//	parked, _ := dlq.New(db, sqldialect.SQLite)
//	sagas, _ := sqlstore.New(db, sqldialect.SQLite)
//
// The stores are eventbus/outbox (outbox, relay and inbox), eventbus/dlq,
// saga/sqlstore and eventbus/sqlbus (the database as the event bus). Each returns an error wrapping its ErrInvalidOption when
// given a Dialect other than Postgres or SQLite.
//
// # Database versions
//
// PostgreSQL 11 or later: the outbox's migration creates the NOTIFY
// trigger of outbox.WithNotifyTrigger with EXECUTE FUNCTION (11); the rest
// needs 9.5 (INSERT ... ON CONFLICT, SELECT ... FOR UPDATE SKIP LOCKED,
// CREATE INDEX IF NOT EXISTS) or older (pg_try_advisory_xact_lock,
// LISTEN/NOTIFY).
//
// SQLite 3.32 or later: the stores write upserts (INSERT ... ON CONFLICT,
// 3.24) and the outbox adds up to 1000 events in one INSERT of 5000 bind
// parameters, past the limit of 999 that SQLite had before 3.32.
// modernc.org/sqlite bundles a newer SQLite.
//
// # Drivers
//
// This package and the stores import no database driver: the program
// imports one and opens the *sql.DB itself. The stores are tested with
// pgx's database/sql driver (github.com/jackc/pgx/v5/stdlib, registered as
// "pgx") and modernc.org/sqlite ("sqlite", pure Go). Their statements use
// numbered bind parameters ($1), which both accept.
//
// # Prepared statements on SQLite
//
// modernc.org/sqlite parses and plans every statement again on each call,
// which costs more than running the stores' short statements. Open it
// through [CachingConnector], whose connections keep the statements they
// run prepared (the pgx driver does so by itself):
//
//	c, _ := sqlite.NewConnector(sqldialect.SQLiteDSN("shop.db"))
//	db := sql.OpenDB(sqldialect.CachingConnector(c))
//	sqldialect.SetPoolSize(db, 1)
//
// # Pool size
//
// Size the *sql.DB's pool with [SetPoolSize]: it keeps as many idle
// connections as it may open, so that connections go back to the pool
// instead of being closed and opened again under load.
package sqldialect
