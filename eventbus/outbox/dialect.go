package outbox

import (
	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/sqldialect"
)

// checkDialect returns an error wrapping ErrInvalidOption unless d is
// sqldialect.Postgres or sqldialect.SQLite. Both use $1-style bind
// parameters (modernc.org/sqlite accepts them), so the dialect only changes
// the schema, row locking and notifications.
func checkDialect(d sqldialect.Dialect) error {
	if err := sqldb.Check(d); err != nil {
		return invalid("%v", err)
	}
	return nil
}

// params returns n bind parameters from first, comma-separated.
func params(first, n int) string { return sqldb.Params(first, n) }

// tableName is what WithTable and WithInboxTable accept: lower-case, and
// short enough to leave room for the suffixes of index names.
var tableName = sqldb.IdentRule{MaxLen: 50, LowerOnly: true}

// validIdent reports whether s is a plain SQL identifier, safe to splice
// into a statement.
func validIdent(s string) error { return tableName.Check(s) }
