package sqlstore

import (
	"fmt"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/sqldialect"
)

// checkDialect returns an error wrapping ErrInvalidOption unless d is
// sqldialect.Postgres or sqldialect.SQLite.
func checkDialect(d sqldialect.Dialect) error {
	if err := sqldb.Check(d); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidOption, err)
	}
	return nil
}

// tableName is what WithTable accepts: PostgreSQL's 63 characters, any
// case.
var tableName = sqldb.IdentRule{MaxLen: 63}

// validIdent reports whether s is a plain SQL identifier, safe to splice
// into a statement.
func validIdent(s string) error { return tableName.Check(s) }
