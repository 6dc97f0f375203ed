package pgnotify

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Listener listens for notifications on one channel over a connection it
// takes from a *sql.DB opened with pgx's stdlib driver. It is safe for
// concurrent use, though one goroutine (the relay's) usually calls Wait.
type Listener struct {
	db      *sql.DB
	channel string

	mu     sync.Mutex // held by Wait for its whole call: one waiter at a time
	conn   *sql.Conn  // listening connection, nil until the first Wait or after a failure
	closed bool
}

// New returns a listener on channel (the outbox table's name) that uses a
// connection of db, which must use the "pgx" driver. It connects on the
// first Wait.
func New(db *sql.DB, channel string) *Listener {
	return &Listener{db: db, channel: channel}
}

// ErrClosed is returned by Wait after Close.
var ErrClosed = errors.New("pgnotify: closed")

// Wait blocks until a notification arrives on the channel or ctx ends. On
// its first call, and after the connection failed, it (re)subscribes and
// returns at once, since notifications may have been missed meanwhile.
func (l *Listener) Wait(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.conn == nil {
		return l.listen(ctx)
	}
	err := l.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("pgnotify: driver connection is %T, not pgx's", dc)
		}
		_, err := c.Conn().WaitForNotification(ctx)
		return err
	})
	if err != nil && ctx.Err() == nil {
		// A broken connection: drop it (the pool discards it) and listen
		// anew on the next call.
		_ = l.conn.Raw(func(any) error { return driver.ErrBadConn })
		_ = l.conn.Close()
		l.conn = nil
		return fmt.Errorf("pgnotify: wait: %w", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// listen takes a connection and LISTENs on the channel.
func (l *Listener) listen(ctx context.Context) error {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("pgnotify: listen: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		_ = conn.Close()
		return fmt.Errorf("pgnotify: listen %s: %w", l.channel, err)
	}
	l.conn = conn
	return nil
}

// Close stops listening and returns the connection to the pool. It waits
// for a Wait in progress, so cancel that Wait's context first. It is
// idempotent.
func (l *Listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.conn == nil {
		return nil
	}
	_, err := l.conn.ExecContext(context.Background(), "UNLISTEN *")
	cerr := l.conn.Close()
	l.conn = nil
	if err != nil {
		return fmt.Errorf("pgnotify: close: %w", err)
	}
	if cerr != nil {
		return fmt.Errorf("pgnotify: close: %w", cerr)
	}
	return nil
}
