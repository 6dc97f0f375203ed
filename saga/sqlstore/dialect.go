package sqlstore

import "github.com/go-microkit/microkit/internal/sqldb"

// Dialect is the SQL flavour of the database.
type Dialect int

// The supported dialects.
const (
	// Postgres is PostgreSQL 9.5 or later, through pgx's stdlib driver.
	Postgres = Dialect(sqldb.Postgres)
	// SQLite is SQLite 3.24 or later, through modernc.org/sqlite.
	SQLite = Dialect(sqldb.SQLite)
)

// String returns the dialect's name.
func (d Dialect) String() string { return d.sql().String() }

func (d Dialect) sql() sqldb.Dialect { return sqldb.Dialect(d) }

func (d Dialect) valid() bool { return d.sql().Valid() }

// placeholder returns the n-th (from 1) bind parameter.
func (d Dialect) placeholder(n int) string { return d.sql().Placeholder(n) }

// placeholders returns n bind parameters from the first'th, comma-separated.
func (d Dialect) placeholders(first, n int) string { return d.sql().Placeholders(first, n) }

// blobType is the column type of raw bytes.
func (d Dialect) blobType() string { return d.sql().BlobType() }

// SQLiteDSN returns a modernc.org/sqlite data source name for the file at
// path, tuned for a saga store: WAL journal (readers do not block the
// writer), a 10 s busy timeout (concurrent writers wait instead of failing)
// and synchronous=FULL (a committed transition survives a power cut, not
// only a crash).
//
// synchronous=FULL costs a disk sync per commit. The store commits the
// transitions of concurrent sagas together (see [Store]), so throughput
// grows with the sagas run at once; one saga at a time is bounded by the
// disk's sync latency. Replacing it by synchronous(NORMAL) removes that
// bound and still survives the process's crash (the case the crash test
// checks), but a power cut may lose the last transitions: a step recorded
// as started may then run again (harmless, by its idempotency key), or a
// saga whose creation was lost may have run its first step with nobody to
// compensate it.
func SQLiteDSN(path string) string { return sqldb.SQLiteDSN(path) }

// tableName is what WithTable accepts: PostgreSQL's 63 characters, any
// case.
var tableName = sqldb.IdentRule{MaxLen: 63}

// validIdent reports whether s is a plain SQL identifier, safe to splice
// into a statement.
func validIdent(s string) error { return tableName.Check(s) }
