package pgnotify

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Listener listens for notifications on one channel over a connection it
// takes from a *sql.DB opened with pgx's stdlib driver. It is safe for
// concurrent use, though one goroutine (the relay's) usually calls Wait.
type Listener struct {
	db      *sql.DB
	channel string

	// turn is a one-token lock, held by Wait for its whole call (one
	// waiter at a time) and by Close; unlike a mutex, Close can give up
	// waiting for it when its context ends.
	turn   chan struct{}
	conn   *sql.Conn // listening connection, guarded by turn; nil until the first Wait or after a failure
	closed atomic.Bool
}

// New returns a listener on channel (the outbox table's name) that uses a
// connection of db, which must use the "pgx" driver. It connects on the
// first Wait.
func New(db *sql.DB, channel string) *Listener {
	return &Listener{db: db, channel: channel, turn: make(chan struct{}, 1)}
}

// lock takes the turn, or returns ctx's error if ctx ends first.
func (l *Listener) lock(ctx context.Context) error {
	select {
	case l.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Listener) unlock() { <-l.turn }

// ErrClosed is returned by Wait after Close.
var ErrClosed = errors.New("pgnotify: closed")

// Wait blocks until a notification arrives on the channel or ctx ends. On
// its first call, and after the connection failed, it (re)subscribes and
// returns at once, since notifications may have been missed meanwhile.
func (l *Listener) Wait(ctx context.Context) error {
	if err := l.lock(ctx); err != nil {
		return err
	}
	defer l.unlock()
	if l.closed.Load() {
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
	if l.closed.Load() {
		// Close gave up waiting for this Wait: release the connection
		// here, discarded rather than unlistened, since ctx may be over.
		l.drop()
		return ErrClosed
	}
	if err != nil && ctx.Err() == nil {
		// A broken connection: drop it and listen anew on the next call.
		l.drop()
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

// drop closes the listening connection and has the pool discard it.
func (l *Listener) drop() {
	_ = l.conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = l.conn.Close()
	l.conn = nil
}

// Close stops listening and returns the connection to the pool. A Wait in
// progress holds the connection, so Close waits for it to return (cancel
// its context first) until ctx ends; then it returns ctx's error, and that
// Wait releases the connection when it returns. The listener is closed
// either way. Close is idempotent and safe to call concurrently.
func (l *Listener) Close(ctx context.Context) error {
	l.closed.Store(true)
	if err := l.lock(ctx); err != nil {
		return fmt.Errorf("pgnotify: close: %w", err)
	}
	defer l.unlock()
	if l.conn == nil {
		return nil
	}
	_, err := l.conn.ExecContext(ctx, "UNLISTEN *")
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
