package sqldialect_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/go-microkit/microkit/sqldialect"
)

// TestSetPoolSize holds n connections at once, returns them, and checks
// that all n stay open in the pool: none is closed for want of idle room,
// so the next burst opens none. With database/sql's default of 2 idle,
// the same burst closes n-2 of them.
func TestSetPoolSize(t *testing.T) {
	const n = 6
	for _, tc := range []struct {
		name       string
		size       func(*sql.DB)
		idle       int
		idleClosed int64
	}{
		{"SetPoolSize", func(db *sql.DB) { sqldialect.SetPoolSize(db, n) }, n, 0},
		{"SetMaxOpenConns only", func(db *sql.DB) { db.SetMaxOpenConns(n) }, 2, n - 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &connector{}
			db := sql.OpenDB(c)
			defer db.Close()
			tc.size(db)
			burst(t, db, n)
			st := db.Stats()
			if st.MaxOpenConnections != n || st.Idle != tc.idle || st.MaxIdleClosed != tc.idleClosed {
				t.Fatalf("after a burst of %d: max open %d, idle %d, closed for want of idle room %d; want %d, %d, %d",
					n, st.MaxOpenConnections, st.Idle, st.MaxIdleClosed, n, tc.idle, tc.idleClosed)
			}
			opened := c.opened.Load()
			burst(t, db, n)
			if again := c.opened.Load() - opened; again != int64(n-tc.idle) {
				t.Errorf("second burst opened %d connections, want %d", again, n-tc.idle)
			}
		})
	}
}

func TestSetPoolSizeBelowOne(t *testing.T) {
	db := sql.OpenDB(&connector{})
	defer db.Close()
	defer func() {
		if recover() == nil {
			t.Error("SetPoolSize(db, 0) did not panic")
		}
	}()
	sqldialect.SetPoolSize(db, 0)
}

// burst takes n connections at once, then returns them all.
func burst(t *testing.T, db *sql.DB, n int) {
	t.Helper()
	var conns []*sql.Conn
	for range n {
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// connector opens connections that do nothing, and counts them.
type connector struct{ opened atomic.Int64 }

func (c *connector) Connect(context.Context) (driver.Conn, error) {
	c.opened.Add(1)
	return conn{}, nil
}

func (c *connector) Driver() driver.Driver { return nil }

type conn struct{}

func (conn) Prepare(string) (driver.Stmt, error) { return nil, errors.ErrUnsupported }
func (conn) Close() error                        { return nil }
func (conn) Begin() (driver.Tx, error)           { return nil, errors.ErrUnsupported }
