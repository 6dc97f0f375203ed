package sqlbus

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/sqldialect"
)

// delivery is one claim of a message for a group. Its attempts, the
// delivery count the claim set, is also its token: Ack, Nack and Term
// change the row only while it holds that count, so that a consumer whose
// visibility timeout ran out cannot settle the claim of the instance that
// got the message next.
type delivery struct {
	s        *subscription
	seq      int64
	attempts int
	until    time.Time // end of the visibility timeout
	msg      *eventbus.Message
	settled  atomic.Bool
}

func (d *delivery) Message() *eventbus.Message { return d.msg }

func (d *delivery) Attempt() int { return d.attempts }

// Ack deletes the delivery, in a statement shared with other acks: queued
// by default, waited for with WithConfirmedAcks.
func (d *delivery) Ack(ctx context.Context) error { return d.remove(ctx, "ack") }

// Term deletes the delivery, as Ack does: a terminated message is not
// kept apart (eventbus.DeadLetter parks it first).
func (d *delivery) Term(ctx context.Context) error { return d.remove(ctx, "term") }

func (d *delivery) remove(ctx context.Context, op string) error {
	if !d.settled.CompareAndSwap(false, true) {
		return eventbus.ErrStaleDelivery
	}
	d.s.unhold(d)
	req := &settleReq{groupID: d.s.groupID, seq: d.seq, attempts: d.attempts}
	if !d.s.b.cfg.confirmAcks {
		if !d.s.b.queued.add(req) {
			return fmt.Errorf("sqlbus: %s: %w", op, eventbus.ErrClosed)
		}
		return nil
	}
	if err := d.s.b.acks.Do(ctx, req); err != nil {
		return fmt.Errorf("sqlbus: %s: %w", op, err)
	}
	if req.err != nil {
		return fmt.Errorf("sqlbus: %s: %w", op, req.err)
	}
	if !req.done {
		return fmt.Errorf("sqlbus: %s: %w: visibility timeout ended, redelivered", op, eventbus.ErrStaleDelivery)
	}
	return nil
}

// Nack makes the delivery visible again after delay, to any instance of
// the group. Its subscription looks for it when the delay ends.
func (d *delivery) Nack(ctx context.Context, delay time.Duration) error {
	if !d.settled.CompareAndSwap(false, true) {
		return eventbus.ErrStaleDelivery
	}
	d.s.unhold(d)
	delay = max(delay, 0)
	res, err := d.s.b.db.ExecContext(ctx, d.s.b.stmts.nack, d.s.groupID, d.seq, d.attempts, time.Now().Add(delay).UnixNano())
	if err != nil {
		return fmt.Errorf("sqlbus: nack: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("sqlbus: nack: %w: visibility timeout ended, redelivered", eventbus.ErrStaleDelivery)
	}
	d.s.lowerHint(d.seq)
	if delay == 0 {
		d.s.wakeUp()
	} else {
		time.AfterFunc(delay, d.s.wakeUp)
	}
	return nil
}

// settleReq is one Ack or Term waiting in the group commit.
type settleReq struct {
	groupID  int64
	seq      int64
	attempts int
	done     bool // the row was deleted
	err      error
}

// ackQueue holds the unconfirmed acks until flushAcks deletes them. It
// is safe for concurrent use.
type ackQueue struct {
	signal  chan struct{} // something was queued
	mu      sync.Mutex
	pending []*settleReq
	closed  bool // flushAcks has stopped taking acks
}

// add queues req; it reports false once the bus closed.
func (q *ackQueue) add(req *settleReq) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.pending = append(q.pending, req)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
	return true
}

// take returns up to n queued acks.
func (q *ackQueue) take(n int, closing bool) []*settleReq {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = q.closed || closing
	k := min(n, len(q.pending))
	batch := q.pending[:k:k]
	q.pending = q.pending[k:]
	return batch
}

// flushAcks deletes the queued acks, all that wait in one statement (up
// to flushBatch), until the bus closes; then it deletes what is left and
// returns. Acks queued while a statement runs go into the next one.
func (b *Bus) flushAcks() {
	for {
		closing := false
		select {
		case <-b.queued.signal:
		case <-b.stop:
			closing = true
		}
		for {
			batch := b.queued.take(flushBatch, closing)
			if len(batch) == 0 {
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			b.ackBatch(ctx, batch)
			cancel()
			if err := batch[0].err; err != nil {
				b.cfg.logger.Warn("sqlbus: acknowledging failed; the messages come back after the visibility timeout",
					"deliveries", len(batch), "error", err)
			}
		}
		if closing {
			return
		}
	}
}

// flushBatch bounds the queued acks one statement deletes.
const flushBatch = 1024

// ackBatch is the acks' group commit run: one statement on PostgreSQL,
// one transaction on SQLite.
func (b *Bus) ackBatch(ctx context.Context, batch []*settleReq) {
	var err error
	if b.dialect == sqldialect.Postgres {
		err = b.ackPostgres(ctx, batch)
	} else {
		err = b.ackSQLite(ctx, batch)
	}
	if err != nil {
		for _, r := range batch {
			r.done, r.err = false, err
		}
	}
}

type deliveryKey struct{ group, seq int64 }

func (b *Bus) ackPostgres(ctx context.Context, batch []*settleReq) error {
	groups, seqs, attempts := make([]int64, len(batch)), make([]int64, len(batch)), make([]int32, len(batch))
	for i, r := range batch {
		groups[i], seqs[i], attempts[i] = r.groupID, r.seq, int32(r.attempts)
	}
	rows, err := b.db.QueryContext(ctx, b.stmts.ack, groups, seqs, attempts)
	if err != nil {
		return err
	}
	defer rows.Close()
	deleted := make(map[deliveryKey]bool, len(batch))
	for rows.Next() {
		var k deliveryKey
		if err := rows.Scan(&k.group, &k.seq); err != nil {
			return err
		}
		deleted[k] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range batch {
		r.done = deleted[deliveryKey{r.groupID, r.seq}]
	}
	return nil
}

func (b *Bus) ackSQLite(ctx context.Context, batch []*settleReq) error {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	for _, r := range batch {
		res, err := tx.ExecContext(ctx, b.stmts.ack, r.groupID, r.seq, r.attempts)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		r.done = n == 1
	}
	return tx.Commit()
}

// claim leases up to n visible deliveries of the group, oldest message
// first, and returns those that match the pattern with the number of rows
// it claimed (those that did not match the pattern, see likePattern, are
// deleted).
func (s *subscription) claim(ctx context.Context, n int) ([]*delivery, int, error) {
	now := time.Now()
	until := now.Add(s.b.cfg.ackWait)
	from := s.hint(now)
	var (
		ds  []*delivery
		err error
	)
	if s.b.dialect == sqldialect.Postgres {
		ds, err = s.claimPostgres(ctx, n, from, now, until)
	} else {
		ds, err = s.claimSQLite(ctx, n, from, now, until)
	}
	if err != nil {
		return nil, 0, err
	}
	claimed := len(ds)
	s.moveHint(from, ds, claimed == n)
	kept := ds[:0]
	for _, d := range ds {
		if d.msg == nil || !eventbus.Match(s.pattern, d.msg.Type) {
			d.settled.Store(true)
			s.drop(d)
			continue
		}
		kept = append(kept, d)
	}
	return kept, claimed, nil
}

// The claim hint: where in the group's deliveries, by seq, a claim
// starts. On PostgreSQL the rows a group consumed stay in the primary
// key's index as dead entries until a vacuum, and a claim that started
// from the group's first seq would step over all of them: with a large
// backlog each claim would cost more than the last. So after a full claim
// the next one starts after what it took. What it skips (a delivery
// published earlier that committed later, one whose visibility timeout
// ran out or that another instance nacked) is found by a claim from the
// start, which runs when a claim comes back short (the backlog is
// drained) and at least once per poll interval; a nack of this
// subscription moves the hint back to its delivery at once.
func (s *subscription) hint(now time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.hintReset) >= s.b.cfg.pollInterval {
		s.from, s.hintReset = 0, now
	}
	return s.from
}

// moveHint sets the next claim's start after a claim from from that
// returned ds, full or not.
func (s *subscription) moveHint(from int64, ds []*delivery, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !full || len(ds) == 0 {
		s.from = 0
		return
	}
	if s.from == from { // no nack moved it meanwhile
		s.from = ds[len(ds)-1].seq + 1
	}
}

// lowerHint makes the next claim start at seq or before.
func (s *subscription) lowerHint(seq int64) {
	s.mu.Lock()
	s.from = min(s.from, seq)
	s.mu.Unlock()
}

// drop deletes a delivery that is not to be handed out.
func (s *subscription) drop(d *delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	req := &settleReq{groupID: s.groupID, seq: d.seq, attempts: d.attempts}
	if err := s.b.acks.Do(ctx, req); err != nil || req.err != nil {
		s.b.cfg.logger.Debug("sqlbus: dropping a delivery failed", "group", s.group, "seq", d.seq, "error", errors.Join(err, req.err))
	}
}

// scanner is a *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanMessage reads messageCols into a delivery's message; a message
// whose metadata cannot be read is logged and left nil, to be dropped.
func (s *subscription) scanMessage(rs scanner, d *delivery, dest ...any) error {
	var (
		m         eventbus.Message
		eventTime int64
		metadata  string
	)
	dest = append(dest, &m.ID, &m.Type, &m.Source, &m.Subject, &eventTime, &m.DataContentType, &m.Data, &metadata)
	if err := rs.Scan(dest...); err != nil {
		return err
	}
	if eventTime != 0 {
		m.Time = time.Unix(0, eventTime).UTC()
	}
	if metadata != "" {
		if err := json.Unmarshal([]byte(metadata), &m.Metadata); err != nil {
			s.b.cfg.logger.Error("sqlbus: unreadable metadata, message dropped", "group", s.group, "id", m.ID, "error", err)
			return nil
		}
	}
	d.msg = &m
	return nil
}

func (s *subscription) claimPostgres(ctx context.Context, n int, from int64, now, until time.Time) ([]*delivery, error) {
	rows, err := s.b.db.QueryContext(ctx, s.b.stmts.claim, s.groupID, now.UnixNano(), n, until.UnixNano(), from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ds []*delivery
	for rows.Next() {
		d := &delivery{s: s, until: until}
		if err := s.scanMessage(rows, d, &d.seq, &d.attempts); err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, rows.Err()
}

func (s *subscription) claimSQLite(ctx context.Context, n int, from int64, now, until time.Time) ([]*delivery, error) {
	tx, err := s.b.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, s.b.stmts.claimSeqs, s.groupID, now.UnixNano(), n, until.UnixNano(), from)
	if err != nil {
		return nil, err
	}
	bySeq := make(map[int64]*delivery)
	var seqs []any
	for rows.Next() {
		d := &delivery{s: s, until: until}
		if err := rows.Scan(&d.seq, &d.attempts); err != nil {
			rows.Close()
			return nil, err
		}
		bySeq[d.seq] = d
		seqs = append(seqs, d.seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(seqs) == 0 {
		return nil, tx.Commit()
	}
	ds := make([]*delivery, 0, len(seqs))
	if err := s.readMessages(ctx, tx, seqs, bySeq, &ds); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return ds, nil
}

// readMessages reads the messages of the deliveries claimed by seq, in seq
// order.
func (s *subscription) readMessages(ctx context.Context, tx *sql.Tx, seqs []any, bySeq map[int64]*delivery, ds *[]*delivery) error {
	rows, err := tx.QueryContext(ctx, s.b.stmts.claim+inList(len(seqs))+" ORDER BY m.seq", seqs...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		d := &delivery{}
		if err := s.scanMessage(rows, d, &seq); err != nil {
			return err
		}
		if c := bySeq[seq]; c != nil {
			c.msg = d.msg
			*ds = append(*ds, c)
		}
	}
	return rows.Err()
}

// release makes deliveries visible again at once, in one transaction:
// queued ones (claimed, never handed out) with their claim uncounted,
// handed ones as they are. It skips those settled meanwhile.
func (s *subscription) release(queued, handed []*delivery) {
	type rel struct {
		d   *delivery
		dec int
	}
	var rs []rel
	for _, d := range queued {
		if d.settled.CompareAndSwap(false, true) {
			rs = append(rs, rel{d, 1})
		}
	}
	for _, d := range handed {
		if d.settled.CompareAndSwap(false, true) {
			rs = append(rs, rel{d, 0})
		}
	}
	if len(rs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	err := func() error {
		tx, err := s.b.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		for _, r := range rs {
			if _, err := tx.ExecContext(ctx, s.b.stmts.release, s.groupID, r.d.seq, r.d.attempts, r.dec); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	if err != nil {
		s.b.cfg.logger.Warn("sqlbus: releasing deliveries failed; they come back after the visibility timeout",
			"group", s.group, "pattern", s.pattern, "deliveries", len(rs), "error", err)
	}
}
