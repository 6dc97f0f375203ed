package sqldialect

import (
	"database/sql"
	"fmt"
)

// SetPoolSize lets db open at most n connections and keep all n open when
// idle: db.SetMaxOpenConns(n) and db.SetMaxIdleConns(n). It panics if n is
// below 1.
//
// database/sql keeps only 2 idle connections by default: a connection
// returned while 2 are idle already, and no one waits for it, is closed,
// and the next transaction that finds none idle opens a new one. On PostgreSQL each
// new connection is a new server process and a round of authentication,
// which costs more than the statements the stores run: bursts of 8
// transactions on a pool of 8 open PostgreSQL connections opened 6 new
// sessions per burst and took some 20 times longer than with SetPoolSize
// (BenchmarkPoolBursts; docs/benchmarks.md, "SQL pool size").
//
// Choose n from the work that needs a connection at once: the requests or
// handlers that run a transaction concurrently, one per saga transition in
// flight, and one per outbox relay (a PostgreSQL relay holds its
// connection for a round, publish included). On SQLite, which has one
// writer, a small pool (even 1) queues writers in the process instead of
// in SQLite's busy handler.
func SetPoolSize(db *sql.DB, n int) {
	if n < 1 {
		panic(fmt.Sprintf("sqldialect: pool size %d, want at least 1", n))
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
}
