package console

import (
	"context"
	"database/sql"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/sqldialect"
)

// samples is how many backlog readings each outbox keeps for its
// sparkline.
const samples = 60

type outboxSource struct {
	name    string
	db      *sql.DB
	dialect sqldialect.Dialect
	tbl     string

	mu      sync.Mutex
	backlog []Sample // oldest first, at most samples
	relay   relayState
}

// relayState is what the outbox listener heard of the relay.
type relayState struct {
	rounds, events int64
	lastRound      time.Time
	lastErr        string
	lastErrAt      time.Time
	window         []Sample // events relayed per round, for the rate
}

// AddOutbox shows the outbox table of db under name (table "" is
// outbox.DefaultTable): its backlog, how old its oldest event is and how
// often the relay failed on it, the scheduled events not due yet and when
// the next is due, and, when the relay reports to
// OutboxListener, the relay's rounds and publish rate.
func (c *Console) AddOutbox(name string, db *sql.DB, dialect sqldialect.Dialect, table string) {
	if table == "" {
		table = outbox.DefaultTable
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outboxes = append(c.outboxes, &outboxSource{name: name, db: db, dialect: dialect, tbl: table})
}

// OutboxListener returns a listener for the relays of the outboxes added
// with AddOutbox (outbox.WithListener): it records each round, for the
// relay's state and publish rate. Events of tables the console does not
// show are ignored.
func (c *Console) OutboxListener() outbox.Listener {
	return outbox.ListenerFunc(func(_ context.Context, e outbox.Event) {
		if e.Kind != outbox.EventRelayed && e.Kind != outbox.EventRelayFailed {
			return
		}
		c.mu.Lock()
		sources := slices.Clone(c.outboxes)
		c.mu.Unlock()
		for _, s := range sources {
			if s.table() == e.Table {
				s.heard(e)
			}
		}
	})
}

func (s *outboxSource) table() string { return s.tbl }

func (s *outboxSource) heard(e outbox.Event) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &s.relay
	r.rounds++
	r.lastRound = now
	if e.Kind == outbox.EventRelayFailed {
		r.lastErr, r.lastErrAt = e.Err.Error(), now
		return
	}
	r.events += int64(e.Events)
	if e.Events > 0 {
		r.window = appendSample(r.window, Sample{now, int64(e.Events)}, 256)
	}
}

// appendSample appends v to list, dropping the oldest past max.
func appendSample(list []Sample, v Sample, max int) []Sample {
	if len(list) == max {
		list = append(list[:0], list[1:]...)
	}
	return append(list, v)
}

// OutboxView is one outbox table.
type OutboxView struct {
	Name    string `json:"name"`
	Table   string `json:"table"`
	Pending int64  `json:"pending"`
	// OldestAt is when the oldest unpublished event was added.
	OldestAt       time.Time `json:"oldest_at,omitzero"`
	OldestAttempts int       `json:"oldest_attempts"`
	OldestError    string    `json:"oldest_error,omitempty"`
	// Scheduled is how many events wait for a due time still to come
	// (outbox.AddAt): no backlog, so not counted in Pending.
	Scheduled int64 `json:"scheduled"`
	// NextDueAt is the earliest due time of those; zero when none is
	// scheduled.
	NextDueAt time.Time `json:"next_due_at,omitzero"`
	// ReadError is why the backlog could not be read, if it could not.
	ReadError string `json:"read_error,omitempty"`
	// Relay is what the relay reported (see Console.OutboxListener); zero
	// if it reports nothing.
	Relay RelayView `json:"relay"`
	// Backlog is the recent readings of Pending, oldest first.
	Backlog []Sample `json:"backlog"`
}

// RelayView is a relay's recent activity.
type RelayView struct {
	Rounds    int64     `json:"rounds"`
	Events    int64     `json:"events"`
	LastRound time.Time `json:"last_round,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// LastErrorAt is when the last round failed.
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// PerSecond is the events published per second over the last minute.
	PerSecond float64 `json:"per_second"`
}

// Sample is one reading of a count: an outbox's backlog, the dead letters.
type Sample struct {
	At    time.Time `json:"at"`
	Value int64     `json:"value"`
}

// OutboxesView is the outbox page.
type OutboxesView struct {
	Outboxes []OutboxView `json:"outboxes"`
}

func (c *Console) outboxViews(r *http.Request) (any, error) { return c.readOutboxes(r.Context()), nil }

func (c *Console) readOutboxes(ctx context.Context) OutboxesView {
	c.mu.Lock()
	sources := slices.Clone(c.outboxes)
	c.mu.Unlock()
	out := OutboxesView{Outboxes: []OutboxView{}}
	for _, s := range sources {
		out.Outboxes = append(out.Outboxes, s.read(ctx))
	}
	return out
}

// read reads the backlog now, records it as a sample, and returns the view.
func (s *outboxSource) read(ctx context.Context) OutboxView {
	v := OutboxView{Name: s.name, Table: s.table()}
	b, err := outbox.ReadBacklog(ctx, s.db, s.dialect, outbox.WithTable(s.tbl))
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		v.ReadError = err.Error()
	} else {
		v.Pending, v.OldestAt, v.OldestAttempts, v.OldestError = b.Pending, b.OldestAt, b.OldestAttempts, b.OldestError
		v.Scheduled, v.NextDueAt = b.Scheduled, b.NextDueAt
		s.backlog = appendSample(s.backlog, Sample{now, b.Pending}, samples)
	}
	r := s.relay
	v.Relay = RelayView{Rounds: r.rounds, Events: r.events, LastRound: r.lastRound, LastError: r.lastErr, LastErrorAt: r.lastErrAt}
	var sum int64
	for _, w := range r.window {
		if now.Sub(w.At) <= time.Minute {
			sum += w.Value
		}
	}
	v.Relay.PerSecond = float64(sum) / 60
	v.Backlog = slices.Clone(s.backlog)
	return v
}
