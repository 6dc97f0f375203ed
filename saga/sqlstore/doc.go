// Package sqlstore is a [saga.Store] on database/sql, for PostgreSQL
// (through pgx's stdlib driver, "pgx") and SQLite (through modernc.org/sqlite,
// "sqlite", pure Go, the embedded default).
//
// Start with [Migrate], which creates the table once, then [New]:
//
//	db, _ := sql.Open("sqlite", sqlstore.SQLiteDSN("sagas.db"))
//	if err := sqlstore.Migrate(ctx, db, sqlstore.SQLite); err != nil { ... }
//	store, _ := sqlstore.New(db, sqlstore.SQLite)
//	orchestrator, _ := saga.NewOrchestrator(store)
//
// The caller imports the driver (_ "github.com/jackc/pgx/v5/stdlib" or
// _ "modernc.org/sqlite"); this package imports neither.
//
// Each saga is one row; every transition is one UPDATE that compares and
// swaps the row's version column, so two orchestrators over one database
// never both advance a saga. The dialect differences (placeholders $1 or ?,
// column types) are kept in dialect.go.
package sqlstore
