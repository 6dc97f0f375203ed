package dlq

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

const columns = "id, original_id, original_type, reason, attempts, grp, handler, parked_at, replays, last_replay_at, envelope"

// List returns a page of the entries f selects, oldest first or, with
// f.Newest, newest first. The next page is List with f.After set to the
// Cursor of this page's last entry.
func (s *Store) List(ctx context.Context, f Filter) ([]Entry, error) {
	q, err := s.selection(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("dlq: list: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	return s.page(ctx, q, f.After, f.Newest, limit)
}

// page returns up to limit entries of q after the cursor after (nil: from
// the first), in the order newest chooses.
func (s *Store) page(ctx context.Context, q *selection, after *Cursor, newest bool, limit int) ([]Entry, error) {
	stmt, args := s.pageStatement(q, after, newest, limit)
	rows, err := s.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("dlq: list: %w", err)
	}
	defer rows.Close()
	out := make([]Entry, 0, min(limit, 100))
	for rows.Next() {
		e, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dlq: list: %w", err)
	}
	return out, nil
}

// pageStatement returns the statement of page and its arguments.
func (s *Store) pageStatement(q *selection, after *Cursor, newest bool, limit int) (string, []any) {
	order, beyond := " ORDER BY parked_at, id", ">"
	if newest {
		order, beyond = " ORDER BY parked_at DESC, id DESC", "<"
	}
	if after != nil {
		// A row comparison, which PostgreSQL and SQLite both run as a
		// range of the (…, parked_at, id) indexes.
		q = q.and("(parked_at, id) "+beyond+" (?, ?)", after.ParkedAt.UnixNano(), after.ID)
	}
	return "SELECT " + columns + " FROM " + s.table + q.clause() + order + " LIMIT " + strconv.Itoa(limit), q.args
}

// Count returns how many entries f selects, ignoring its Limit, After and
// Newest. It counts the matches on the indexes that serve the same
// Filter's List (see Migrate): its cost grows with the number of matches,
// not with the size of the table.
func (s *Store) Count(ctx context.Context, f Filter) (int64, error) {
	q, err := s.selection(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("dlq: count: %w", err)
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, s.countStatement(q), q.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("dlq: count: %w", err)
	}
	return n, nil
}

// CountUpTo is Count bounded: it counts at most max matches, so that
// asking costs the same however many wait, and returns max when there are
// max or more. An operator's page that says "1000 or more" needs no more.
func (s *Store) CountUpTo(ctx context.Context, f Filter, max int) (int64, error) {
	if max < 1 {
		return 0, fmt.Errorf("dlq: count up to %d: %w", max, ErrInvalidFilter)
	}
	q, err := s.selection(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("dlq: count: %w", err)
	}
	var n int64
	stmt := "SELECT COUNT(*) FROM (SELECT 1 FROM " + s.table + q.clause() + " LIMIT " + strconv.Itoa(max) + ") AS matches"
	if err := s.db.QueryRowContext(ctx, stmt, q.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("dlq: count: %w", err)
	}
	return n, nil
}

// countStatement is the statement of Count.
func (s *Store) countStatement(q *selection) string {
	return "SELECT COUNT(*) FROM " + s.table + q.clause()
}

// GroupCount is what one group has waiting: its entries never replayed.
type GroupCount struct {
	// Group is the consumer group the messages failed in.
	Group string
	// Count is how many of its entries were never replayed; never zero.
	Count int64
	// Oldest and Newest are the earliest and latest ParkedAt among them.
	Oldest, Newest time.Time
}

// groupsStatement is the statement of Groups.
func (s *Store) groupsStatement() string {
	return "SELECT grp, COUNT(*), MIN(parked_at), MAX(parked_at) FROM " + s.table + " WHERE replays = 0 GROUP BY grp ORDER BY grp"
}

// Groups returns, for each group with entries never replayed, how many
// there are and when the oldest and newest were parked, by group name.
// Its cost grows with the number of such entries, which it counts from
// the group index or the table, whichever the planner finds cheaper.
func (s *Store) Groups(ctx context.Context) ([]GroupCount, error) {
	rows, err := s.db.QueryContext(ctx, s.groupsStatement())
	if err != nil {
		return nil, fmt.Errorf("dlq: groups: %w", err)
	}
	defer rows.Close()
	var out []GroupCount
	for rows.Next() {
		var (
			g              GroupCount
			oldest, newest int64
		)
		if err := rows.Scan(&g.Group, &g.Count, &oldest, &newest); err != nil {
			return nil, fmt.Errorf("dlq: groups: %w", err)
		}
		g.Oldest, g.Newest = time.Unix(0, oldest).UTC(), time.Unix(0, newest).UTC()
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dlq: groups: %w", err)
	}
	return out, nil
}

// Get returns the entry of a parked message's ID.
func (s *Store) Get(ctx context.Context, id string) (Entry, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+columns+" FROM "+s.table+" WHERE id = $1", id)
	if err != nil {
		return Entry{}, fmt.Errorf("dlq: get %s: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Entry{}, fmt.Errorf("dlq: get %s: %w", id, err)
		}
		return Entry{}, fmt.Errorf("dlq: get %s: %w", id, ErrNotFound)
	}
	return scan(rows)
}

func scan(rows *sql.Rows) (Entry, error) {
	var (
		e        Entry
		parked   int64
		replayed sql.NullInt64
		env      []byte
	)
	if err := rows.Scan(&e.ID, &e.OriginalID, &e.OriginalType, &e.Reason, &e.Attempts, &e.Group, &e.Handler,
		&parked, &e.Replays, &replayed, &env); err != nil {
		return e, fmt.Errorf("dlq: scan: %w", err)
	}
	e.ParkedAt = time.Unix(0, parked).UTC()
	if replayed.Valid {
		e.LastReplayAt = time.Unix(0, replayed.Int64).UTC()
	}
	msg, err := eventbus.Unmarshal(env)
	if err != nil {
		return e, fmt.Errorf("dlq: entry %s: %w", e.ID, err)
	}
	e.Message = msg
	return e, nil
}
