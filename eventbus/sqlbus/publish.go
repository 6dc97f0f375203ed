package sqlbus

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/sqldialect"
)

// row is a message encoded for its table.
type row struct {
	id, typ, source, subject string
	eventTime                int64
	contentType              string
	data                     []byte
	metadata                 string
}

func encode(m *eventbus.Message) (row, error) {
	if err := m.Validate(); err != nil {
		return row{}, err
	}
	r := row{id: m.ID, typ: m.Type, source: m.Source, subject: m.Subject,
		contentType: m.DataContentType, data: m.Data}
	if r.data == nil {
		r.data = []byte{} // the column is NOT NULL
	}
	if !m.Time.IsZero() {
		r.eventTime = m.Time.UnixNano()
	}
	if len(m.Metadata) > 0 {
		md, err := json.Marshal(m.Metadata)
		if err != nil {
			return row{}, err
		}
		r.metadata = string(md)
	}
	return r, nil
}

func encodeAll(msgs []*eventbus.Message) ([]row, error) {
	rows := make([]row, len(msgs))
	for i, m := range msgs {
		r, err := encode(m)
		if err != nil {
			return nil, err
		}
		rows[i] = r
	}
	return rows, nil
}

// publishReq is one Publish call waiting in the group commit.
type publishReq struct {
	rows []row
	err  error
}

// backoff paces the retries of a publish and of a subscription's claims
// through an outage: short, because most are a restart that takes a
// moment, and with full jitter, so that processes that lost the server
// together do not retry together.
var backoff = retry.Backoff{Initial: 50 * time.Millisecond, Max: time.Second}

// Publish stores msgs, for every consumer group whose pattern matches,
// and returns once they are committed. Concurrent calls
// share statements and commits (up to 256 calls in one, one statement at
// a time), so a publish costs a round trip and a disk flush of its own
// only when it is alone.
// On PostgreSQL it retries through disconnects and server restarts until
// ctx ends; a retry after a commit whose reply was lost stores the
// messages twice, which consumers deduplicate on Message.ID.
func (b *Bus) Publish(ctx context.Context, msgs ...*eventbus.Message) error {
	rows, err := encodeAll(msgs)
	if err != nil {
		return fmt.Errorf("sqlbus: publish: %w", err)
	}
	if b.isClosedNow() {
		return fmt.Errorf("sqlbus: publish: %w", eventbus.ErrClosed)
	}
	if len(rows) == 0 {
		return nil
	}
	req := &publishReq{rows: rows}
	for attempt := 1; ; attempt++ {
		req.err = nil
		if err := b.pubs.Do(ctx, req); err != nil {
			return fmt.Errorf("sqlbus: publish: %w", err)
		}
		if req.err == nil {
			b.wakeAll()
			if b.dialect == sqldialect.Postgres {
				select {
				case b.notifyAll <- struct{}{}:
				default:
				}
			}
			return nil
		}
		if b.dialect != sqldialect.Postgres || permanent(req.err) {
			return fmt.Errorf("sqlbus: publish: %w", req.err)
		}
		d := backoff.Delay(attempt)
		b.cfg.logger.Debug("sqlbus: publish failed, retrying", "attempt", attempt, "in", d, "error", req.err)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("sqlbus: publish: %w (last error: %w)", ctx.Err(), req.err)
		case <-b.stop:
			t.Stop()
			return fmt.Errorf("sqlbus: publish: %w (last error: %w)", eventbus.ErrClosed, req.err)
		}
	}
}

// PublishTx stores msgs in the caller's transaction, as Publish does: they
// commit or roll back with it, so an event is published exactly when the
// business change it describes is (no outbox, no relay). Subscriptions
// see them once tx commits: at once on PostgreSQL, where the commit sends
// the notification; at their next poll on SQLite. It does not retry; tx
// must belong to the bus's database.
func (b *Bus) PublishTx(ctx context.Context, tx *sql.Tx, msgs ...*eventbus.Message) error {
	if tx == nil {
		return fmt.Errorf("sqlbus: publish: %w", invalid("nil transaction"))
	}
	rows, err := encodeAll(msgs)
	if err != nil {
		return fmt.Errorf("sqlbus: publish: %w", err)
	}
	if b.isClosedNow() {
		return fmt.Errorf("sqlbus: publish: %w", eventbus.ErrClosed)
	}
	if err := b.insert(ctx, tx, rows, b.stmts.publishTx); err != nil {
		return fmt.Errorf("sqlbus: publish: %w", err)
	}
	return nil
}

// publishBatch is the group commit's run: the rows of every waiting call in
// one statement (or one transaction on SQLite). If that fails for a reason
// that retrying cannot fix, one call's bad message must not fail the
// others: each call is tried alone.
func (b *Bus) publishBatch(ctx context.Context, batch []*publishReq) {
	var err error
	if len(batch) == 1 {
		err = b.store(ctx, batch[0].rows)
	} else {
		var rows []row
		for _, r := range batch {
			rows = append(rows, r.rows...)
		}
		err = b.store(ctx, rows)
		if err != nil && permanent(err) {
			for _, r := range batch {
				r.err = b.store(ctx, r.rows)
			}
			return
		}
	}
	for _, r := range batch {
		r.err = err
	}
}

// store commits rows: one statement on PostgreSQL, a transaction on SQLite.
func (b *Bus) store(ctx context.Context, rows []row) error {
	if b.dialect == sqldialect.Postgres {
		return b.insert(ctx, b.db, rows, b.stmts.publish)
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := b.insert(ctx, tx, rows, ""); err != nil {
		return err
	}
	return tx.Commit()
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// insertChunk bounds the packs of one statement: 1000 on PostgreSQL
// (arrays), 1000 on SQLite (4 bind parameters each, within SQLite's
// 32766).
const insertChunk = 1000

// insert stores rows through q, packed (see packRows); on PostgreSQL with
// stmt, publish or publishTx.
func (b *Bus) insert(ctx context.Context, q querier, rows []row, stmt string) error {
	now := time.Now().UnixNano()
	packs := packRows(rows)
	for len(packs) > 0 {
		chunk := packs[:min(len(packs), insertChunk)]
		packs = packs[len(chunk):]
		var err error
		if b.dialect == sqldialect.Postgres {
			err = b.insertPostgres(ctx, q, chunk, now, stmt)
		} else {
			err = b.insertSQLite(ctx, q, chunk, now)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *Bus) insertPostgres(ctx context.Context, q querier, packs []pack, now int64, stmt string) error {
	if len(packs) == 1 && stmt == b.stmts.publish {
		_, err := q.ExecContext(ctx, b.stmts.publishOne, int32(packs[0].n), packs[0].types, packs[0].body, now)
		return err
	}
	ns, types, bodies := make([]int32, len(packs)), make([]string, len(packs)), make([][]byte, len(packs))
	for i, p := range packs {
		ns[i], types[i], bodies[i] = int32(p.n), typeList(p.types), p.body
	}
	_, err := q.ExecContext(ctx, stmt, ns, types, bodies, now)
	return err
}

func (b *Bus) insertSQLite(ctx context.Context, q querier, packs []pack, now int64) error {
	args := make([]any, 0, 4*len(packs))
	for _, p := range packs {
		types, err := json.Marshal(p.types)
		if err != nil {
			return err
		}
		args = append(args, p.n, string(types), p.body, now)
	}
	_, err := q.ExecContext(ctx, insertPacks(b.cfg.table, len(packs)), args...)
	return err
}

// permanent reports errors that retrying cannot fix: those PostgreSQL
// returns about the statement or its data. Errors of connections
// (SQLSTATE class 08), transaction conflicts (40), resources (53),
// operator intervention such as a shutdown (57) and system errors (58),
// and errors without a SQLSTATE (a broken connection) are worth a retry.
// The SQLSTATE is read through the SQLState method that pgx's PgError
// (and lib/pq's Error) has, so that the package compiles no driver.
func permanent(err error) bool {
	var se interface{ SQLState() string }
	if !errors.As(err, &se) {
		return false
	}
	code := se.SQLState()
	if len(code) < 2 {
		return false
	}
	switch code[:2] {
	case "08", "40", "53", "57", "58":
		return false
	}
	return true
}
