// Package sqldb holds the SQL plumbing shared by microkit's database
// adapters (saga/sqlstore, eventbus/outbox, eventbus/dlq) on top of the
// public [sqldialect.Dialect]: the check every store makes of its dialect
// ([Check]), bind parameters, column types, database/sql driver names, the
// check of table names spliced into statements ([IdentRule]).
//
// Start with [Check]. sqldb registers no driver: a program imports
// github.com/jackc/pgx/v5/stdlib ("pgx") or modernc.org/sqlite ("sqlite")
// itself.
package sqldb
