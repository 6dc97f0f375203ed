package sqldb

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// Dialect is the SQL flavour of a database. The zero Dialect is invalid.
type Dialect int

// The supported dialects.
const (
	// Postgres is PostgreSQL through pgx's database/sql driver ("pgx").
	Postgres Dialect = iota + 1
	// SQLite is SQLite through modernc.org/sqlite ("sqlite").
	SQLite
)

// String returns the dialect's name: "postgres", "sqlite", or
// "Dialect(n)" for an invalid one.
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case SQLite:
		return "sqlite"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// Valid reports whether d is Postgres or SQLite.
func (d Dialect) Valid() bool { return d == Postgres || d == SQLite }

// Driver returns the database/sql driver name of d ("pgx" or "sqlite"),
// or "" for an invalid dialect.
func (d Dialect) Driver() string {
	switch d {
	case Postgres:
		return "pgx"
	case SQLite:
		return "sqlite"
	}
	return ""
}

// Placeholder returns the n-th (from 1) bind parameter: $n for PostgreSQL,
// ? for SQLite.
func (d Dialect) Placeholder(n int) string {
	if d == Postgres {
		return Param(n)
	}
	return "?"
}

// Placeholders returns n bind parameters from the first'th,
// comma-separated: "$2, $3" for PostgreSQL, "?, ?" for SQLite.
func (d Dialect) Placeholders(first, n int) string {
	if d == Postgres {
		return Params(first, n)
	}
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// BlobType returns the column type of raw bytes: BYTEA or BLOB.
func (d Dialect) BlobType() string {
	if d == Postgres {
		return "BYTEA"
	}
	return "BLOB"
}

// Param returns the numbered bind parameter $n. Both pgx and
// modernc.org/sqlite accept it, so code that uses only numbered parameters
// needs no dialect to build its statements.
func Param(n int) string { return "$" + strconv.Itoa(n) }

// Params returns n numbered bind parameters from $first, comma-separated:
// Params(2, 3) is "$2, $3, $4".
func Params(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(first + i))
	}
	return b.String()
}

// SQLiteDSN returns a modernc.org/sqlite data source name for the file at
// path, tuned for a store of records that must not be lost: WAL journal
// (readers do not block the writer), a 10 s busy timeout (concurrent
// writers wait instead of failing) and synchronous=FULL (a committed
// transaction survives a power cut, not only a crash, at a disk sync per
// commit).
func SQLiteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
}

// Open opens dsn with d's driver, which the program must have registered
// (see the package doc). Like sql.Open it does not connect.
func Open(d Dialect, dsn string) (*sql.DB, error) {
	if !d.Valid() {
		return nil, fmt.Errorf("sqldb: open: unknown dialect %v", d)
	}
	db, err := sql.Open(d.Driver(), dsn)
	if err != nil {
		return nil, fmt.Errorf("sqldb: open %v: %w", d, err)
	}
	return db, nil
}
