package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/sqldialect"
)

// signalQueries are the statements on the signals table, "<table>_signals".
// Its rows are signals (timed_out 0 for an event, 1 for a wait that ended
// without one) and waiters' marks (timed_out -1): the row a park writes
// for its key before any signal came, naming the saga in waiter, which
// the key's signal then replaces, keeping waiter. A park and a signal for
// one key thus write the same row, and its primary key orders them.
type signalQueries struct {
	put, get, take, prune, nextWake string
	// waiter reads the record of the saga named as a key's waiter.
	waiter string
	// mark writes the waiter's mark of a park, or names the waiter in the
	// row of a signal that came first, and returns the row.
	mark string
	// deliver (PostgreSQL) stores a signal and returns its waiter's
	// record, if the key has a waiter: one statement for Deliver.
	deliver string
}

func newSignalQueries(d sqldialect.Dialect, t string) signalQueries {
	s := t + "_signals"
	q := signalQueries{
		put: "INSERT INTO " + s + " (" + signalColumns + ") VALUES (" + sqldb.Placeholders(d, 1, 6) + ")" + fillMark(s),
		get: "SELECT " + signalColumns + " FROM " + s + " WHERE key = " + sqldb.Placeholder(d, 1) + " AND timed_out >= 0",
		take: "UPDATE " + s + " SET saga_id = " + sqldb.Placeholder(d, 1) + " WHERE key = " + sqldb.Placeholder(d, 2) +
			" AND timed_out >= 0 AND (saga_id = '' OR saga_id = " + sqldb.Placeholder(d, 3) + ")",
		// A waiter's mark goes once its saga no longer waits on the key.
		prune: "DELETE FROM " + s + " WHERE created_at < " + sqldb.Placeholder(d, 1) + " AND (timed_out >= 0 OR NOT EXISTS (SELECT 1 FROM " +
			t + " WHERE " + t + ".id = " + s + ".waiter AND " + t + ".wait_key = " + s + ".key))",
		nextWake: "SELECT COALESCE(MIN(wake_at), 0) FROM " + t + " WHERE wake_at > 0",
		waiter: "SELECT " + qualified(t) + " FROM " + s + " JOIN " + t + " ON " + t + ".id = " + s + ".waiter WHERE " + s + ".key = " +
			sqldb.Placeholder(d, 1),
		mark: "INSERT INTO " + s + " (" + signalColumns + ", waiter) VALUES (" + sqldb.Placeholder(d, 1) + ", '', " +
			sqldb.Placeholder(d, 2) + ", '', -1, " + sqldb.Placeholder(d, 3) + ", " + sqldb.Placeholder(d, 4) + ")" + markConflict,
	}
	if d == sqldialect.Postgres {
		// The record's columns, or their zero values when the key has no
		// waiter (id is then empty).
		cols := strings.Split(columns, ", ")
		for i, c := range cols {
			zero := "''"
			switch c {
			case "version", "lease_until", "deadline", "created_at", "updated_at", "wake_at":
				zero = "0"
			case "state":
				zero = "''::BYTEA"
			case "steps":
				zero = "'[]'" // decodes to no steps
			}
			cols[i] = "COALESCE(" + t + "." + c + ", " + zero + ")"
		}
		q.deliver = "WITH stored AS (" + q.put + " RETURNING waiter) SELECT stored.waiter, " + strings.Join(cols, ", ") +
			" FROM stored LEFT JOIN " + t + " ON " + t + ".id = stored.waiter"
	}
	return q
}

// qualified is the record's columns, qualified by the saga table's name.
func qualified(t string) string {
	return t + "." + strings.ReplaceAll(columns, ", ", ", "+t+".")
}

// fillMark is the conflict clause of a signal's insert: a signal stored
// for the key already stays (the first one is the one taken), a waiter's
// mark is replaced, its waiter kept.
func fillMark(signals string) string {
	return " ON CONFLICT (key) DO UPDATE SET type = excluded.type, payload = excluded.payload, saga_id = excluded.saga_id, " +
		"timed_out = excluded.timed_out, created_at = excluded.created_at WHERE " + signals + ".timed_out < 0"
}

// markConflict is the conflict clause of a waiter's mark: the row of a
// signal that came first stays a signal, and names the waiter.
const markConflict = " ON CONFLICT (key) DO UPDATE SET waiter = excluded.waiter RETURNING " + signalColumns

// PutSignal implements [saga.WaitStore] with one INSERT ... ON CONFLICT,
// which stores sig in place of a waiter's mark (see Park), and a read of
// the stored signal when there was one.
func (s *Store) PutSignal(ctx context.Context, sig *saga.Signal) (*saga.Signal, bool, error) {
	timedOut := int64(0)
	if sig.TimedOut {
		timedOut = 1
	}
	n, err := s.exec(ctx, s.signals.put, sig.Key, sig.Type, nullBytes(sig.Payload), sig.SagaID, timedOut, unixNano(sig.CreatedAt))
	if err != nil {
		return nil, false, fmt.Errorf("sqlstore: put signal %q: %w", sig.Key, err)
	}
	if n == 1 {
		c := *sig
		c.Payload = append([]byte(nil), sig.Payload...)
		return &c, true, nil
	}
	stored, err := s.GetSignal(ctx, sig.Key)
	if err != nil {
		return nil, false, fmt.Errorf("sqlstore: put signal: %w", err)
	}
	return stored, false, nil
}

// GetSignal implements [saga.WaitStore].
func (s *Store) GetSignal(ctx context.Context, key string) (*saga.Signal, error) {
	sig, err := scanSignal(s.querier(ctx).QueryRowContext(ctx, s.signals.get, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: get signal %q: %w", key, saga.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get signal %q: %w", key, err)
	}
	return sig, nil
}

// TakeSignal implements [saga.WaitStore] with one conditional UPDATE,
// which returns the signal on PostgreSQL; SQLite's (group-committed)
// write is followed by a read.
func (s *Store) TakeSignal(ctx context.Context, key, sagaID string) (*saga.Signal, error) {
	if s.dialect == sqldialect.Postgres {
		sig, err := scanSignal(s.querier(ctx).QueryRowContext(ctx, s.signals.take+signalReturning, sagaID, key, sagaID))
		if err == nil {
			return sig, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: take signal %q: %w", key, err)
		}
	} else {
		n, err := s.exec(ctx, s.signals.take, sagaID, key, sagaID)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: take signal %q: %w", key, err)
		}
		if n == 1 {
			return s.GetSignal(ctx, key)
		}
	}
	stored, err := s.GetSignal(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: take signal: %w", err)
	}
	return nil, fmt.Errorf("sqlstore: take signal %q: taken by %s: %w", key, stored.SagaID, saga.ErrConflict)
}

// signalReturning makes an UPDATE of the signals table return the row.
const signalReturning = " RETURNING " + signalColumns

const signalColumns = "key, type, payload, saga_id, timed_out, created_at"

// scanSignal reads a signal's row of signalColumns.
func scanSignal(row scanner) (*saga.Signal, error) {
	sig, _, err := scanSignalRow(row)
	return sig, err
}

// scanSignalRow reads a row of signalColumns, and its timed_out column:
// -1 for a waiter's mark (see Park), which is no signal.
func scanSignalRow(row scanner) (sig *saga.Signal, kind int64, err error) {
	var (
		s       saga.Signal
		created int64
	)
	if err := row.Scan(&s.Key, &s.Type, &s.Payload, &s.SagaID, &kind, &created); err != nil {
		return nil, 0, err
	}
	s.TimedOut, s.CreatedAt = kind > 0, fromUnixNano(created)
	return &s, kind, nil
}

// NextWake implements [saga.WaitStore]: one read of the end of the
// wake-up index.
func (s *Store) NextWake(ctx context.Context) (time.Time, error) {
	var next int64
	if err := s.querier(ctx).QueryRowContext(ctx, s.signals.nextWake).Scan(&next); err != nil {
		return time.Time{}, fmt.Errorf("sqlstore: next wake: %w", err)
	}
	return fromUnixNano(next), nil
}

// PruneSignals implements [saga.WaitStore]. It also deletes the waiters'
// marks (see Park) written before before whose saga no longer waits on
// their key, and counts them.
func (s *Store) PruneSignals(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, s.signals.prune, unixNano(before))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune signals: %w", err)
	}
	return int(n), nil
}
