// Package sqlstore is a [saga.Store] on database/sql, for PostgreSQL
// (through pgx's stdlib driver, "pgx") and SQLite (through modernc.org/sqlite,
// "sqlite", pure Go, the embedded default), named by a [sqldialect.Dialect]
// (see that package for the database versions, the SQLite data source name
// and the pool size).
//
// Start with [Migrate], which creates the table once, then [New]:
//
//	db, _ := sql.Open("sqlite", sqldialect.SQLiteDSN("sagas.db"))
//	sqldialect.SetPoolSize(db, 8)
//	if err := sqlstore.Migrate(ctx, db, sqldialect.SQLite); err != nil { ... }
//	store, _ := sqlstore.New(db, sqldialect.SQLite)
//	orchestrator, _ := saga.NewOrchestrator(store)
//
// The caller imports the driver (_ "github.com/jackc/pgx/v5/stdlib" or
// _ "modernc.org/sqlite"); this package imports neither.
//
// Each saga is one row; every transition is one UPDATE that compares and
// swaps the row's version column, so two orchestrators over one database
// never both advance a saga.
//
// The store is a [saga.TxStore]: [Store.InTx] runs a Local saga step in a
// transaction with the record's write, and the step makes its own writes
// with the *sql.Tx that [TxFromContext] returns, so that they commit (or
// roll back) with its recorded completion.
//
// The store is a [saga.ParkStore] too: a saga's park writes its key's row
// in the signals table (a waiter's mark, which the key's signal fills in),
// so that a park and its signal meet without a read of either side (see
// [Store.Park]). Versions of this package from before the marks read a
// mark as a signal whose wait ended: upgrade every process that delivers
// signals ([saga.Orchestrator.Signal], saga/sagabus) before a process of
// this version parks sagas, rather than mixing them in a rolling upgrade,
// in which an older process could acknowledge an event as late and leave
// its saga waiting until its wait times out.
package sqlstore
