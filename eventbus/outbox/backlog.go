package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/sqldialect"
)

// Backlog is what an outbox table holds that no relay has published yet.
type Backlog struct {
	// Pending is how many events wait to be published.
	Pending int64
	// OldestAt is when the oldest of them was added; zero when none waits.
	OldestAt time.Time
	// OldestAttempts and OldestError are the failed publishes of the oldest
	// event and the last one's error: a relay that keeps failing on it
	// holds back every later event of its subject.
	OldestAttempts int
	OldestError    string
}

// ReadBacklog reads the backlog of the outbox table (WithTable) in db: two
// queries over the index of unsent events, so it stays cheap however many
// events were sent before. It is what an operator's view shows as "how far
// behind" a relay is.
func ReadBacklog(ctx context.Context, db *sql.DB, dialect sqldialect.Dialect, opts ...Option) (Backlog, error) {
	if err := checkDialect(dialect); err != nil {
		return Backlog{}, fmt.Errorf("outbox: backlog: %w", err)
	}
	c, err := newConfig(opts)
	if err != nil {
		return Backlog{}, fmt.Errorf("outbox: backlog: %w", err)
	}
	var b Backlog
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+c.table+` WHERE sent_at IS NULL`).Scan(&b.Pending); err != nil {
		return Backlog{}, fmt.Errorf("outbox: backlog of %s: %w", c.table, err)
	}
	if b.Pending == 0 {
		return b, nil
	}
	var created int64
	var lastErr sql.NullString
	err = db.QueryRowContext(ctx, `SELECT created_at, attempts, last_error FROM `+c.table+`
		WHERE sent_at IS NULL ORDER BY seq LIMIT 1`).Scan(&created, &b.OldestAttempts, &lastErr)
	if errors.Is(err, sql.ErrNoRows) {
		// Published between the two queries.
		return b, nil
	}
	if err != nil {
		return Backlog{}, fmt.Errorf("outbox: backlog of %s: %w", c.table, err)
	}
	b.OldestAt, b.OldestError = time.Unix(0, created).UTC(), lastErr.String
	return b, nil
}
