// Package sqltest gives tests a fresh database of either dialect: a
// temporary SQLite file, or a new schema in the PostgreSQL database at
// MICROKIT_POSTGRES_URL, dropped when the test ends.
//
// Start with [Open]. Tests of different packages run at once against the
// same PostgreSQL database, so each gets a schema of its own, reached
// through the search_path of the DSN it is given: the code under test
// writes plain table names.
//
// Fault tests that stop and start PostgreSQL use [StartPostgres] instead: a
// throwaway cluster of their own on a free loopback port.
//
// Importing sqltest registers the "pgx" and "sqlite" database/sql drivers.
package sqltest
