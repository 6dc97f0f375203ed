package dlq

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/internal/sqldb"
)

// Filter selects entries for List. The zero Filter lists every entry not
// yet replayed, oldest first, up to 100.
type Filter struct {
	// Type, if set, is a pattern the original type must match.
	Type string
	// Group, if set, is the group the message failed in.
	Group string
	// OriginalID, if set, is the ID of the message that failed: its
	// entries, one per failure.
	OriginalID string
	// Replayed includes entries already replayed.
	Replayed bool
	// Limit bounds the result; zero means 100.
	Limit int
}

const columns = "id, original_id, original_type, reason, attempts, grp, handler, parked_at, replays, last_replay_at, envelope"

// List returns the entries f selects, oldest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Entry, error) {
	if f.Type != "" {
		if err := eventbus.ValidatePattern(f.Type); err != nil {
			return nil, fmt.Errorf("dlq: list: %w", err)
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var (
		where []string
		args  []any
	)
	if f.Group != "" {
		args = append(args, f.Group)
		where = append(where, "grp = "+sqldb.Param(len(args)))
	}
	if f.OriginalID != "" {
		args = append(args, f.OriginalID)
		where = append(where, "original_id = "+sqldb.Param(len(args)))
	}
	if !f.Replayed {
		where = append(where, "replays = 0")
	}
	q := "SELECT " + columns + " FROM " + s.table
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY parked_at, id"
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("dlq: list: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() && len(out) < limit {
		e, err := scan(rows)
		if err != nil {
			return nil, err
		}
		if f.Type == "" || eventbus.Match(f.Type, e.OriginalType) {
			out = append(out, e)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dlq: list: %w", err)
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
