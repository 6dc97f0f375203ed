// Package sqldb holds the SQL plumbing shared by microkit's database
// adapters (saga/sqlstore, eventbus/outbox, eventbus/dlq): the [Dialect]
// (PostgreSQL or SQLite) with its bind parameters, column types and
// database/sql driver names, the tuned [SQLiteDSN], and the check of table
// names spliced into statements ([IdentRule]).
//
// Start with [Dialect]. The exported packages keep their own Dialect types
// and constants (sqlstore.Postgres, outbox.SQLite, ...) and convert to this
// one, so that this package stays an implementation detail.
//
// sqldb registers no driver: a program imports github.com/jackc/pgx/v5/stdlib
// ("pgx") or modernc.org/sqlite ("sqlite") itself.
package sqldb
