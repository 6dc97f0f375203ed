package sqldb

import (
	"context"
	"database/sql"
)

// BeginDetached begins a transaction that ctx's end does not roll back,
// for work whose record must commit once the work is done even if ctx ends
// meanwhile (database/sql rolls a transaction back when the context given
// to BeginTx ends, and then refuses its Commit). Waiting for a connection
// of the pool still ends with ctx. The statements run under the contexts
// given to them; the caller ends the transaction, then calls release to
// return the connection to the pool.
func BeginDetached(ctx context.Context, db *sql.DB) (tx *sql.Tx, release func(), err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	tx, err = conn.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return tx, func() { _ = conn.Close() }, nil
}
