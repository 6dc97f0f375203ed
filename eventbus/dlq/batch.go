package dlq

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-microkit/microkit/eventbus"
)

// batchSize is how many entries ReplayMatching loads, and DeleteMatching
// deletes in one statement, at a time: memory and lock times stay bounded
// whatever the number of entries. Tests lower it to cross batches with a
// few entries.
var batchSize = 500

// ReplayMatching replays, as Replay does, every entry f selects (its
// Limit, After and Newest ignored), oldest first, loading them batchSize
// at a time, and returns how many it replayed. It works through the
// entries that match when it starts, up to the newest of them: a replay
// that fails again, parked later as a new entry, is not replayed again by
// the same call.
//
// It stops at the first failed replay or when ctx ends, checked before
// each entry, and returns the count replayed with the error: the entries
// not yet replayed are untouched. Each replay is recorded even if ctx ends
// after its publish.
func (s *Store) ReplayMatching(ctx context.Context, pub eventbus.Publisher, f Filter) (int, error) {
	q, ok, err := s.matching(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("dlq: replay matching: %w", err)
	}
	if !ok {
		return 0, nil // nothing matches
	}
	// Keyset paging: the replays change what f selects (an entry replayed
	// leaves a Filter without Replayed), which an offset would not survive.
	var (
		n     int
		after *Cursor
	)
	for {
		entries, err := s.page(ctx, q, after, false, batchSize)
		if err != nil {
			return n, fmt.Errorf("dlq: replay matching: %w", err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return n, fmt.Errorf("dlq: replay matching: %w", err)
			}
			if err := s.replay(ctx, pub, e); err != nil {
				return n, err
			}
			n++
		}
		if len(entries) < batchSize {
			return n, nil
		}
		c := entries[len(entries)-1].Cursor()
		after = &c
	}
}

// DeleteMatching deletes every entry f selects (its Limit, After and
// Newest ignored), batchSize per statement, oldest first, and returns how
// many it deleted. Like ReplayMatching it deletes the entries that match
// when it starts, up to the newest of them, and leaves later ones. When
// ctx ends it stops between statements and returns the count deleted with
// ctx's error.
func (s *Store) DeleteMatching(ctx context.Context, f Filter) (int64, error) {
	q, ok, err := s.matching(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("dlq: delete matching: %w", err)
	}
	if !ok {
		return 0, nil // nothing matches
	}
	stmt := s.deleteStatement(q)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("dlq: delete matching: %w", err)
		}
		res, err := s.db.ExecContext(ctx, stmt, q.args...)
		if err != nil {
			return n, fmt.Errorf("dlq: delete matching: %w", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return n, fmt.Errorf("dlq: delete matching: %w", err)
		}
		// Until a statement finds nothing: one that deletes less than a
		// batch may have lost rows to a concurrent delete, not run out.
		if n += k; k == 0 {
			return n, nil
		}
	}
}

// deleteStatement is the statement that deletes the first batchSize
// entries of q.
func (s *Store) deleteStatement(q *selection) string {
	return "DELETE FROM " + s.table + " WHERE id IN (SELECT id FROM " + s.table + q.clause() +
		" ORDER BY parked_at, id LIMIT " + strconv.Itoa(batchSize) + ")"
}

// lastStatement is the statement of the place of the newest entry of q.
func (s *Store) lastStatement(q *selection) string {
	return "SELECT parked_at, id FROM " + s.table + q.clause() + " ORDER BY parked_at DESC, id DESC LIMIT 1"
}

// matching returns f's selection up to the newest entry it selects now,
// so that entries parked later are left alone, and false if it selects
// none.
func (s *Store) matching(ctx context.Context, f Filter) (*selection, bool, error) {
	q, err := s.selection(ctx, f)
	if err != nil {
		return nil, false, err
	}
	var (
		nanos int64
		id    string
	)
	err = s.db.QueryRowContext(ctx, s.lastStatement(q), q.args...).Scan(&nanos, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return q.and("(parked_at, id) <= (?, ?)", nanos, id), true, nil
}
