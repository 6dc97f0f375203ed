package sqldb

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-microkit/microkit/sqldialect"
)

// Check returns nil for Postgres and SQLite, and an error naming d for any
// other value; each store wraps it in its own ErrInvalidOption.
func Check(d sqldialect.Dialect) error {
	if d != sqldialect.Postgres && d != sqldialect.SQLite {
		return fmt.Errorf("unknown dialect %v: want sqldialect.Postgres or sqldialect.SQLite", d)
	}
	return nil
}

// Driver returns the database/sql driver name of d ("pgx" or "sqlite"),
// or "" for an unknown dialect.
func Driver(d sqldialect.Dialect) string {
	switch d {
	case sqldialect.Postgres:
		return "pgx"
	case sqldialect.SQLite:
		return "sqlite"
	}
	return ""
}

// Placeholder returns the n-th (from 1) bind parameter: $n for PostgreSQL,
// ? for SQLite.
func Placeholder(d sqldialect.Dialect, n int) string {
	if d == sqldialect.Postgres {
		return Param(n)
	}
	return "?"
}

// Placeholders returns n bind parameters from the first'th,
// comma-separated: "$2, $3" for PostgreSQL, "?, ?" for SQLite.
func Placeholders(d sqldialect.Dialect, first, n int) string {
	if d == sqldialect.Postgres {
		return Params(first, n)
	}
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// BlobType returns the column type of raw bytes: BYTEA or BLOB.
func BlobType(d sqldialect.Dialect) string {
	if d == sqldialect.Postgres {
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

// Open opens dsn with d's driver, which the program must have registered
// (see the package doc). Like sql.Open it does not connect.
func Open(d sqldialect.Dialect, dsn string) (*sql.DB, error) {
	if err := Check(d); err != nil {
		return nil, fmt.Errorf("sqldb: open: %w", err)
	}
	db, err := sql.Open(Driver(d), dsn)
	if err != nil {
		return nil, fmt.Errorf("sqldb: open %v: %w", d, err)
	}
	return db, nil
}
