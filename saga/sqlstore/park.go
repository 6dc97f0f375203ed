package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/sqldialect"
)

// parkQueries are PostgreSQL's statements for Park: the record's write and
// the waiter's mark in one statement, which returns the key's row.
type parkQueries struct{ create, update string }

// newParkQueries builds them from the store's insert and update: the mark
// is written only if the record's write matched, and the statement
// returns no row otherwise.
func newParkQueries(d sqldialect.Dialect, t, insert, update string) parkQueries {
	if d != sqldialect.Postgres {
		return parkQueries{}
	}
	mark := func(write, at, id string) string {
		return "WITH written AS (" + write + " RETURNING wait_key), mark AS (INSERT INTO " + t + "_signals (" + signalColumns +
			", waiter) SELECT wait_key, '', ''::BYTEA, '', -1, " + at + "::BIGINT, " + id + "::TEXT FROM written" + markConflict +
			") SELECT " + signalColumns + " FROM mark"
	}
	return parkQueries{
		// The mark's time is the record's updated_at, and its waiter
		// the record's id: $13 and $1 in the insert, $9 and $12 in the
		// update.
		create: mark(insert, "$13", "$1"),
		update: mark(update, "$9", "$12"),
	}
}

// Park implements [saga.ParkStore]. On PostgreSQL it is one statement:
// the record's write and the waiter's mark, on the key's row of the
// signals table. On SQLite it is those two statements in one transaction:
// InTx's, if ctx has one, or the group commit's.
func (s *Store) Park(ctx context.Context, r *saga.Record) (*saga.Signal, error) {
	if r.WaitKey == "" {
		return nil, fmt.Errorf("sqlstore: park %q: %w: no wait key", r.ID, ErrInvalidOption)
	}
	create := r.Version == 0
	args, err := s.writeArgs(r, create)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: park %q: %w", r.ID, err)
	}
	var (
		sig  *saga.Signal
		kind int64
	)
	if s.dialect == sqldialect.Postgres {
		query := s.park.update
		if create {
			query = s.park.create
		}
		sig, kind, err = scanSignalRow(s.querier(ctx).QueryRowContext(ctx, query, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, s.writeMissed(ctx, r, create)
		}
	} else {
		query := s.update
		if create {
			query = s.insert
		}
		statements := func(ctx context.Context, tx *sql.Tx) (int64, error) {
			n, err := execRows(ctx, tx, query, args)
			if err != nil || n == 0 {
				return n, err
			}
			sig, kind, err = scanSignalRow(tx.QueryRowContext(ctx, s.signals.mark, r.WaitKey, []byte{}, unixNano(r.UpdatedAt), r.ID))
			return n, err
		}
		var n int64
		if tx := s.txFrom(ctx); tx != nil {
			n, err = statements(ctx, tx)
		} else {
			n, err = s.group.execTx(ctx, s.db, statements)
		}
		if err == nil && n == 0 {
			err = s.writeMissed(ctx, r, create)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: park %q: %w", r.ID, err)
	}
	if create {
		r.Version = 1
	} else {
		r.Version++
	}
	if kind < 0 {
		return nil, nil // the mark: no signal came before the park
	}
	return sig, nil
}

// writeArgs returns the parameters of the store's insert (create) or
// update of r.
func (s *Store) writeArgs(r *saga.Record, create bool) ([]any, error) {
	steps, err := encodeSteps(r.Steps)
	if err != nil {
		return nil, err
	}
	if create {
		return []any{r.ID, r.Name, string(r.Status), int64(1), nullBytes(r.State), steps,
			r.Owner, unixNano(r.LeaseUntil), unixNano(r.Deadline), r.Error, r.Note, unixNano(r.CreatedAt), unixNano(r.UpdatedAt),
			r.WaitKey, unixNano(r.WakeAt)}, nil
	}
	return []any{string(r.Status), nullBytes(r.State), steps, r.Owner,
		unixNano(r.LeaseUntil), unixNano(r.Deadline), r.Error, r.Note, unixNano(r.UpdatedAt), r.WaitKey, unixNano(r.WakeAt), r.ID, r.Version}, nil
}

// writeMissed is the error of an insert (create) or a compare-and-swap
// update of r that wrote no row: ErrDuplicate, ErrNotFound or ErrConflict.
func (s *Store) writeMissed(ctx context.Context, r *saga.Record, create bool) error {
	if create {
		return saga.ErrDuplicate
	}
	// Tell a lost race from a missing row; this costs a query only on
	// the failure path.
	if _, err := s.Get(ctx, r.ID); err != nil {
		return err
	}
	return fmt.Errorf("at version %d: %w", r.Version, saga.ErrConflict)
}

// Deliver implements [saga.ParkStore]. On PostgreSQL a signal stored at
// once is one statement, which returns the waiter's record with it; on
// SQLite it is the signal's write, then a read of the waiter's record. A
// signal stored before costs a read of it and, if it is pending, one of
// its waiter's record.
func (s *Store) Deliver(ctx context.Context, sig *saga.Signal) (*saga.Signal, bool, *saga.Record, error) {
	timedOut := int64(0)
	if sig.TimedOut {
		timedOut = 1
	}
	args := []any{sig.Key, sig.Type, nullBytes(sig.Payload), sig.SagaID, timedOut, unixNano(sig.CreatedAt)}
	var (
		created bool
		waiter  *saga.Record
	)
	if s.dialect == sqldialect.Postgres {
		var id string
		rec, err := scanWith(s.querier(ctx).QueryRowContext(ctx, s.signals.deliver, args...), &id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, false, nil, fmt.Errorf("sqlstore: deliver signal %q: %w", sig.Key, err)
		default:
			created = true
			switch {
			case rec.ID != "":
				waiter = rec
			case id != "":
				// The record was created after the statement's snapshot,
				// which it read; the mark, written later, it waited for.
				if waiter, err = s.lookup(ctx, id); err != nil {
					return nil, false, nil, fmt.Errorf("sqlstore: deliver signal %q: %w", sig.Key, err)
				}
			}
		}
	} else {
		n, err := s.exec(ctx, s.signals.put, args...)
		if err != nil {
			return nil, false, nil, fmt.Errorf("sqlstore: deliver signal %q: %w", sig.Key, err)
		}
		created = n == 1
		if created {
			if waiter, err = s.waiterOf(ctx, sig.Key); err != nil {
				return nil, false, nil, fmt.Errorf("sqlstore: deliver signal %q: %w", sig.Key, err)
			}
		}
	}
	if created {
		c := *sig
		c.Payload = append([]byte(nil), sig.Payload...)
		return &c, true, waiter, nil
	}
	stored, err := s.GetSignal(ctx, sig.Key)
	if err != nil {
		return nil, false, nil, fmt.Errorf("sqlstore: deliver: %w", err)
	}
	if stored.SagaID == "" && !stored.TimedOut {
		if waiter, err = s.waiterOf(ctx, sig.Key); err != nil {
			return nil, false, nil, fmt.Errorf("sqlstore: deliver signal %q: %w", sig.Key, err)
		}
	}
	return stored, false, waiter, nil
}

// waiterOf returns the record of the saga named as key's waiter, or nil:
// one read, of the key's row joined to the record.
func (s *Store) waiterOf(ctx context.Context, key string) (*saga.Record, error) {
	rec, err := scan(s.querier(ctx).QueryRowContext(ctx, s.signals.waiter, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read waiter: %w", err)
	}
	return rec, nil
}

// lookup returns the record of id, or nil if there is none.
func (s *Store) lookup(ctx context.Context, id string) (*saga.Record, error) {
	rec, err := s.Get(ctx, id)
	if errors.Is(err, saga.ErrNotFound) {
		return nil, nil
	}
	return rec, err
}
