package outbox

import "github.com/go-microkit/microkit/internal/sqldb"

// Dialect is the SQL flavour of the database. Both dialects use $1-style
// bind parameters (modernc.org/sqlite accepts them), so the dialect only
// changes the schema, row locking and notifications.
type Dialect int

// The supported dialects.
const (
	// Postgres is PostgreSQL 11 or later, through pgx's stdlib driver.
	Postgres = Dialect(sqldb.Postgres)
	// SQLite is SQLite 3.35 or later, through modernc.org/sqlite.
	SQLite = Dialect(sqldb.SQLite)
)

// String returns the dialect's name.
func (d Dialect) String() string { return sqldb.Dialect(d).String() }

func (d Dialect) valid() bool { return sqldb.Dialect(d).Valid() }

// SQLiteDSN returns a modernc.org/sqlite data source name for the file at
// path, tuned for an outbox: WAL journal (the relay's reads do not block
// business writes), a 10 s busy timeout (concurrent writers wait instead
// of failing) and synchronous=FULL (a committed event survives a power cut).
func SQLiteDSN(path string) string { return sqldb.SQLiteDSN(path) }

// params returns n bind parameters from first, comma-separated.
func params(first, n int) string { return sqldb.Params(first, n) }

// tableName is what WithTable and WithInboxTable accept: lower-case, and
// short enough to leave room for the suffixes of index names.
var tableName = sqldb.IdentRule{MaxLen: 50, LowerOnly: true}

// validIdent reports whether s is a plain SQL identifier, safe to splice
// into a statement.
func validIdent(s string) error { return tableName.Check(s) }
