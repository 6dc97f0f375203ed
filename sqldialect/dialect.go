package sqldialect

import (
	"fmt"
	"strconv"
	"strings"
)

// Dialect is the SQL flavour of a database: [Postgres] or [SQLite]. The
// zero Dialect is none; every store rejects it. A Dialect reads and writes
// itself as text ("postgres", "sqlite"), so it can be a flag
// (flag.TextVar) or a configuration field.
type Dialect int

// The supported dialects. See the package doc for the versions each needs.
const (
	// Postgres is PostgreSQL 11 or later.
	Postgres Dialect = iota + 1
	// SQLite is SQLite 3.32 or later.
	SQLite
)

// String returns the dialect's name: "postgres", "sqlite", or "Dialect(n)"
// for any other value.
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case SQLite:
		return "sqlite"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// Parse returns the dialect named name: "postgres" (or "postgresql") or
// "sqlite", in any case. Any other name is an error.
func Parse(name string) (Dialect, error) {
	switch strings.ToLower(name) {
	case "postgres", "postgresql":
		return Postgres, nil
	case "sqlite":
		return SQLite, nil
	}
	return 0, fmt.Errorf("sqldialect: unknown dialect %q: want postgres or sqlite", name)
}

// MarshalText returns the dialect's name, or an error for a value that is
// neither Postgres nor SQLite.
func (d Dialect) MarshalText() ([]byte, error) {
	if d != Postgres && d != SQLite {
		return nil, fmt.Errorf("sqldialect: unknown dialect %v", d)
	}
	return []byte(d.String()), nil
}

// UnmarshalText sets d to the dialect named by text, as [Parse] reads it.
func (d *Dialect) UnmarshalText(text []byte) error {
	v, err := Parse(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// SQLiteDSN returns a modernc.org/sqlite data source name for the file at
// path, tuned for stores of records that must not be lost:
//
//   - journal_mode(WAL): readers (a relay polling the outbox, Recover
//     listing sagas) do not block the writer;
//   - busy_timeout(10000): a writer that finds the database locked waits up
//     to 10 s instead of failing at once;
//   - synchronous(FULL): a committed transaction survives a power cut, not
//     only a crash of the process, at the cost of a disk sync per commit.
//
// synchronous(FULL) bounds one writer at a time by the disk's sync latency;
// saga/sqlstore commits the transitions of concurrent sagas together to
// share it. synchronous(NORMAL) in WAL mode removes that bound and still
// survives the process's crash, but a power cut may lose the last commits:
// a saga step recorded as started may run again (harmless, by its
// idempotency key), a saga whose creation was lost may have run its first
// step with nobody to compensate it, an event added to the outbox may be
// lost with the business change it described. A program that accepts
// that replaces "synchronous(FULL)" in the returned name by
// "synchronous(NORMAL)".
func SQLiteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
}
