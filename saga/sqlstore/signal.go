package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/sqldialect"
)

// signalQueries are the statements on the signals table, "<table>_signals".
type signalQueries struct {
	put, get, take, prune, nextWake string
}

func newSignalQueries(d sqldialect.Dialect, t string) signalQueries {
	s := t + "_signals"
	return signalQueries{
		put: "INSERT INTO " + s + " (" + signalColumns + ") VALUES (" +
			sqldb.Placeholders(d, 1, 6) + ") ON CONFLICT (key) DO NOTHING",
		get: "SELECT " + signalColumns + " FROM " + s + " WHERE key = " + sqldb.Placeholder(d, 1),
		take: "UPDATE " + s + " SET saga_id = " + sqldb.Placeholder(d, 1) + " WHERE key = " + sqldb.Placeholder(d, 2) +
			" AND (saga_id = '' OR saga_id = " + sqldb.Placeholder(d, 3) + ")",
		prune:    "DELETE FROM " + s + " WHERE created_at < " + sqldb.Placeholder(d, 1),
		nextWake: "SELECT COALESCE(MIN(wake_at), 0) FROM " + t + " WHERE wake_at > 0",
	}
}

// PutSignal implements [saga.WaitStore] with one INSERT ... ON CONFLICT
// DO NOTHING, and a read of the stored signal when there was one.
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
	var (
		sig               saga.Signal
		timedOut, created int64
	)
	if err := row.Scan(&sig.Key, &sig.Type, &sig.Payload, &sig.SagaID, &timedOut, &created); err != nil {
		return nil, err
	}
	sig.TimedOut, sig.CreatedAt = timedOut != 0, fromUnixNano(created)
	return &sig, nil
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

// PruneSignals implements [saga.WaitStore].
func (s *Store) PruneSignals(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, s.signals.prune, unixNano(before))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune signals: %w", err)
	}
	return int(n), nil
}
