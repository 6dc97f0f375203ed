package dlq

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/sqldialect"
)

// DefaultTable is the default table of parked messages.
const DefaultTable = "microkit_dlq"

var (
	// ErrInvalidOption is wrapped by the error of New given an
	// invalid option.
	ErrInvalidOption = errors.New("dlq: invalid option")
	// ErrNotFound is wrapped by the error of Get and Replay for an unknown
	// entry.
	ErrNotFound = errors.New("dlq: not found")
	// ErrNotDeadLetter is wrapped by the error of Original and of the
	// collecting handler for a message without the dead-letter metadata.
	ErrNotDeadLetter = errors.New("dlq: not a dead-lettered message")
)

// Entry is one parked message.
type Entry struct {
	// ID is the parked message's ID, unique per failure (see
	// eventbus.DeadLetterID); a dead letter whose ID is taken by another
	// failure (a producer that derived it from the original's alone) gets
	// its ID plus "." and 16 hex digits of its content's hash.
	ID string
	// OriginalID and OriginalType identify the message that failed.
	OriginalID   string
	OriginalType string
	// Reason is the handler's last error.
	Reason string
	// Attempts is how many deliveries the message had.
	Attempts int
	// Group and Handler are where it failed.
	Group   string
	Handler string
	// ParkedAt is when it was dead-lettered: the dead letter's
	// eventbus.MetaDeadLetterTime, or when the store parked it if that is
	// missing or unreadable.
	ParkedAt time.Time
	// Replays counts the replays of this entry; LastReplayAt is the last
	// replay's time, zero if never replayed. A replay that fails again is
	// a new failure: a new entry.
	Replays      int
	LastReplayAt time.Time
	// Message is the parked message, dead-letter metadata included.
	Message *eventbus.Message
}

// Option configures New.
type Option func(*Store) error

// tableName is what WithTable accepts: the outbox's rule, lower-case and
// short enough to leave room for the index name's suffix.
var tableName = sqldb.IdentRule{MaxLen: 50, LowerOnly: true}

// WithTable sets the table's name. Default DefaultTable.
func WithTable(name string) Option {
	return func(s *Store) error {
		if err := tableName.Check(name); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidOption, err)
		}
		s.table = name
		return nil
	}
}

// Store is the table of parked messages. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect sqldialect.Dialect
	table   string
}

// New returns the store on db's table (see Migrate). It returns an error
// wrapping ErrInvalidOption for a nil db, a dialect other than
// sqldialect.Postgres or sqldialect.SQLite, or an invalid option.
func New(db *sql.DB, dialect sqldialect.Dialect, opts ...Option) (*Store, error) {
	s := &Store{db: db, dialect: dialect, table: DefaultTable}
	if db == nil {
		return nil, fmt.Errorf("%w: nil database", ErrInvalidOption)
	}
	if err := sqldb.Check(dialect); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidOption, err)
	}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Migrate creates the store's table and its indexes if they do not
// exist; it is safe to run on every start. On a table made without the
// indexes it adds them, which holds up parking while they are built
// (seconds for 100,000 entries).
//
// The indexes serve List, Count and the batch operations without reading
// the table (PostgreSQL EXPLAIN shows index scans; see the package doc for
// which Filters they cover):
//
//   - _time: (parked_at, id), every entry in either order;
//   - _open_time, _open_group, _open_type: (parked_at, id), (grp,
//     parked_at, id) and (original_type, parked_at, id) of the entries
//     never replayed (partial indexes, so that replayed entries, however
//     many, cost those listings nothing);
//   - _original: original_id, for one message's entries and Search;
//   - on PostgreSQL, _id_bytes: id in byte order, for Search (the primary
//     key's order is the database's collation, which prefix ranges cannot
//     use).
//
// The types and IDs are indexed in byte order (COLLATE "C" on
// PostgreSQL, SQLite's default), which prefix ranges need.
func (s *Store) Migrate(ctx context.Context) error {
	blob := sqldb.BlobType(s.dialect)
	t := s.table
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + t + ` (
	id TEXT PRIMARY KEY,
	original_id TEXT NOT NULL,
	original_type TEXT NOT NULL,
	reason TEXT NOT NULL,
	attempts INTEGER NOT NULL,
	grp TEXT NOT NULL,
	handler TEXT NOT NULL,
	parked_at BIGINT NOT NULL,
	replays INTEGER NOT NULL DEFAULT 0,
	last_replay_at BIGINT,
	envelope ` + blob + ` NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS ` + t + `_time ON ` + t + ` (parked_at, id)`,
		`DROP INDEX IF EXISTS ` + t + `_parked`, // (parked_at) alone, which _time covers
		`CREATE INDEX IF NOT EXISTS ` + t + `_open_time ON ` + t + ` (parked_at, id) WHERE replays = 0`,
		`CREATE INDEX IF NOT EXISTS ` + t + `_open_group ON ` + t + ` (grp, parked_at, id) WHERE replays = 0`,
		`CREATE INDEX IF NOT EXISTS ` + t + `_open_type ON ` + t + ` (` + s.bytewise("original_type") + `, parked_at, id) WHERE replays = 0`,
		`CREATE INDEX IF NOT EXISTS ` + t + `_original ON ` + t + ` (` + s.bytewise("original_id") + `)`,
	}
	if s.dialect == sqldialect.Postgres {
		stmts = append(stmts, `CREATE INDEX IF NOT EXISTS `+t+`_id_bytes ON `+t+` (`+s.bytewise("id")+`)`)
	}
	for _, stmt := range stmts {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("dlq: migrate: %w", err)
		}
	}
	return nil
}

// Park stores a dead-lettered message (one eventbus.DeadLetter published)
// as a new entry. Parking one dead letter twice (a redelivery of it) keeps
// the first copy; every other failure, of another group, another handler
// or a replay that failed again, is an entry of its own, even when its ID
// collides with another failure's.
func (s *Store) Park(ctx context.Context, msg *eventbus.Message) error {
	md := msg.Metadata
	if md[eventbus.MetaDeadLetterOriginalType] == "" {
		return fmt.Errorf("dlq: park %s: %w", msg.ID, ErrNotDeadLetter)
	}
	env, err := eventbus.Marshal(msg)
	if err != nil {
		return fmt.Errorf("dlq: park: %w", err)
	}
	attempts, _ := strconv.Atoi(md[eventbus.MetaDeadLetterAttempts])
	parked, err := time.Parse(time.RFC3339Nano, md[eventbus.MetaDeadLetterTime])
	if err != nil {
		parked = time.Now()
	}
	group, handler := md[eventbus.MetaDeadLetterGroup], md[eventbus.MetaDeadLetterHandler]
	insert := func(id string) (bool, error) {
		res, err := s.db.ExecContext(ctx, "INSERT INTO "+s.table+
			" (id, original_id, original_type, reason, attempts, grp, handler, parked_at, envelope)"+
			" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
			id, md[eventbus.MetaDeadLetterOriginalID], md[eventbus.MetaDeadLetterOriginalType],
			md[eventbus.MetaDeadLetterReason], attempts, group, handler, parked.UnixNano(), env)
		if err != nil {
			return false, fmt.Errorf("dlq: park %s: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, fmt.Errorf("dlq: park %s: %w", id, err)
		}
		return n == 1, nil
	}
	if ok, err := insert(msg.ID); ok || err != nil {
		return err
	}
	var existing []byte
	if err := s.db.QueryRowContext(ctx, "SELECT envelope FROM "+s.table+" WHERE id = $1", msg.ID).Scan(&existing); err != nil {
		return fmt.Errorf("dlq: park %s: %w", msg.ID, err)
	}
	if bytes.Equal(existing, env) {
		return nil // this very dead letter, delivered again
	}
	// Another failure under the same ID: keep it under one of its own,
	// derived from its content so that its own redelivery changes nothing.
	h := sha256.Sum256(env)
	_, err = insert(msg.ID + "." + hex.EncodeToString(h[:8]))
	return err
}

// Handler returns the handler that parks every message it gets; run it in
// a router subscribed to eventbus.DeadLetterPrefix + ">". A message without
// dead-letter metadata fails permanently.
func (s *Store) Handler() eventbus.Handler {
	return func(ctx context.Context, msg *eventbus.Message) error {
		err := s.Park(ctx, msg)
		if errors.Is(err, ErrNotDeadLetter) {
			return retry.Permanent(err)
		}
		return err
	}
}

// Original rebuilds the message that failed from its parked copy: the
// original type and ID, without the dead-letter metadata.
func Original(parked *eventbus.Message) (*eventbus.Message, error) {
	typ, id := parked.Metadata[eventbus.MetaDeadLetterOriginalType], parked.Metadata[eventbus.MetaDeadLetterOriginalID]
	if typ == "" || id == "" {
		return nil, fmt.Errorf("dlq: original of %s: %w", parked.ID, ErrNotDeadLetter)
	}
	m := parked.Clone()
	m.ID, m.Type = id, typ
	for _, k := range []string{eventbus.MetaDeadLetterReason, eventbus.MetaDeadLetterOriginalType, eventbus.MetaDeadLetterOriginalID,
		eventbus.MetaDeadLetterAttempts, eventbus.MetaDeadLetterHandler, eventbus.MetaDeadLetterGroup, eventbus.MetaDeadLetterTime,
		eventbus.MetaReplay} {
		delete(m.Metadata, k)
	}
	if len(m.Metadata) == 0 {
		m.Metadata = nil
	}
	return m, nil
}

// Replay republishes the original message of each parked ID through pub,
// in the order given, and records the replay. It stops at the first error.
func (s *Store) Replay(ctx context.Context, pub eventbus.Publisher, ids ...string) error {
	for _, id := range ids {
		e, err := s.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("dlq: replay: %w", err)
		}
		if err := s.replay(ctx, pub, e); err != nil {
			return err
		}
	}
	return nil
}

// recordTimeout bounds the recording of a replay already published, which
// runs even when the caller's ctx ends meanwhile: an entry published but
// not recorded would be replayed again.
const recordTimeout = 10 * time.Second

// replay republishes e's original message through pub and records it.
func (s *Store) replay(ctx context.Context, pub eventbus.Publisher, e Entry) error {
	m, err := Original(e.Message)
	if err != nil {
		return fmt.Errorf("dlq: replay: %w", err)
	}
	// Unique per replay, so that a broker that deduplicates on IDs
	// does not drop it as a copy of the original (or of a replay).
	m.SetMetadata(eventbus.MetaReplay, e.ID+"#"+strconv.Itoa(e.Replays+1))
	if err := pub.Publish(ctx, m); err != nil {
		return fmt.Errorf("dlq: replay %s: %w", e.ID, err)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if _, err := s.db.ExecContext(rctx, "UPDATE "+s.table+" SET replays = replays + 1, last_replay_at = $1 WHERE id = $2",
		time.Now().UnixNano(), e.ID); err != nil {
		return fmt.Errorf("dlq: replay %s: published, but recording it failed: %w", e.ID, err)
	}
	return nil
}

// Delete removes the entries of ids and returns how many existed.
func (s *Store) Delete(ctx context.Context, ids ...string) (int64, error) {
	var n int64
	for _, id := range ids {
		res, err := s.db.ExecContext(ctx, "DELETE FROM "+s.table+" WHERE id = $1", id)
		if err != nil {
			return n, fmt.Errorf("dlq: delete %s: %w", id, err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}
