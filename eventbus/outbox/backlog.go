package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/sqldialect"
)

// Backlog is what an outbox table holds that no relay has published yet:
// the events that are due (Pending), and apart from them the scheduled
// events that are not due yet (Scheduled), which are no backlog: a relay
// that keeps up still holds them.
type Backlog struct {
	// Pending is how many events are due and wait to be published.
	Pending int64
	// OldestAt is since when the first of them (the next a relay
	// publishes) waits: when it was added or, for a scheduled event, when
	// it became due, if that is later; zero when none waits.
	OldestAt time.Time
	// OldestAttempts and OldestError are the failed publishes of that
	// event and the last one's error: a relay that keeps failing on it
	// holds back every later event of its subject.
	OldestAttempts int
	OldestError    string
	// Scheduled is how many events were added with a due time that has
	// not come yet (see AddAt).
	Scheduled int64
	// NextDueAt is the earliest due time of the scheduled events; zero
	// when none is scheduled.
	NextDueAt time.Time
}

// ReadBacklog reads the backlog of the outbox table (WithTable) in db at
// time.Now(): two queries over the index of unsent events, so it stays
// cheap however many events were sent before (the count reads an index
// entry per unsent event, scheduled ones included). It is what an operator's
// view shows as "how far behind" a relay is, and what is scheduled.
func ReadBacklog(ctx context.Context, db *sql.DB, dialect sqldialect.Dialect, opts ...Option) (Backlog, error) {
	if err := checkDialect(dialect); err != nil {
		return Backlog{}, fmt.Errorf("outbox: backlog: %w", err)
	}
	c, err := newConfig(opts)
	if err != nil {
		return Backlog{}, fmt.Errorf("outbox: backlog: %w", err)
	}
	now := time.Now().UnixNano()
	var (
		b    Backlog
		next sql.NullInt64
	)
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN due_at > $1 THEN 1 ELSE 0 END), 0),
		MIN(CASE WHEN due_at > $1 THEN due_at END) FROM `+c.table+` WHERE sent_at IS NULL`, now).Scan(&b.Pending, &b.Scheduled, &next); err != nil {
		return Backlog{}, fmt.Errorf("outbox: backlog of %s: %w", c.table, err)
	}
	b.Pending -= b.Scheduled
	if next.Valid {
		b.NextDueAt = time.Unix(0, next.Int64).UTC()
	}
	if b.Pending == 0 {
		return b, nil
	}
	var created, due int64
	var lastErr sql.NullString
	err = db.QueryRowContext(ctx, `SELECT created_at, due_at, attempts, last_error FROM `+c.table+`
		WHERE sent_at IS NULL AND due_at <= $1 ORDER BY due_at, seq LIMIT 1`, now).Scan(&created, &due, &b.OldestAttempts, &lastErr)
	if errors.Is(err, sql.ErrNoRows) {
		// Published between the two queries.
		return b, nil
	}
	if err != nil {
		return Backlog{}, fmt.Errorf("outbox: backlog of %s: %w", c.table, err)
	}
	b.OldestAt, b.OldestError = time.Unix(0, max(created, due)).UTC(), lastErr.String
	return b, nil
}
