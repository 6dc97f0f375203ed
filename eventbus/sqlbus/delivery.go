package sqlbus

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
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
	seq      int64 // the pack's
	idx      int   // the message's index in its pack
	claim    int   // the idx of its claim row (-2 or less), or 0: the message has a row of its own
	attempts int
	until    time.Time // end of the visibility timeout
	msg      *eventbus.Message
	settled  atomic.Bool
}

func (d *delivery) Message() *eventbus.Message { return d.msg }

// row returns the idx of the delivery's row and the bit of its message in
// the row's mask (0 for a row of its own).
func (d *delivery) row() (idx int, bit int64) {
	if d.claim != 0 {
		return d.claim, int64(uint64(1) << d.idx)
	}
	return d.idx, 0
}

// deliveries appends the deliveries of the messages of mask, claimed in
// the claim row idx of pack seq.
func (s *subscription) deliveries(ds []*delivery, seq int64, idx int, mask uint64, attempts int, until time.Time, body []byte, cache *packCache) []*delivery {
	for mask != 0 {
		i := bits.TrailingZeros64(mask)
		mask &= mask - 1
		ds = append(ds, &delivery{s: s, seq: seq, idx: i, claim: idx, attempts: attempts, until: until, msg: cache.message(seq, body, i)})
	}
	return ds
}

func (d *delivery) Attempt() int { return d.attempts }

// firstBits returns the lowest k bits set in mask.
func firstBits(mask uint64, k int) uint64 {
	var keep uint64
	for ; k > 0 && mask != 0; k-- {
		low := mask & -mask
		keep |= low
		mask &^= low
	}
	return keep
}

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
	req := d.settleReq()
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
	ok, err := d.s.setVisible(ctx, d, time.Now().Add(delay).UnixNano(), 0)
	if err != nil {
		return fmt.Errorf("sqlbus: nack: %w", err)
	}
	if !ok {
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
	idx      int   // of the row
	bit      int64 // of the message in the row's mask, 0 for a row of its own
	attempts int
	done     bool // the row was deleted
	err      error
}

func (d *delivery) settleReq() *settleReq {
	idx, bit := d.row()
	return &settleReq{groupID: d.s.groupID, seq: d.seq, idx: idx, bit: bit, attempts: d.attempts}
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

type deliveryKey struct {
	group, seq int64
	idx        int
	attempts   int
}

// ackPostgres settles batch in one statement: the acks of one claim
// (same row, same attempts) as one mask.
func (b *Bus) ackPostgres(ctx context.Context, batch []*settleReq) error {
	type agg struct {
		mask int64
		n    int32
	}
	rows := make(map[deliveryKey]*agg, len(batch))
	var keys []deliveryKey
	for _, r := range batch {
		k := deliveryKey{r.groupID, r.seq, r.idx, r.attempts}
		a := rows[k]
		if a == nil {
			a = &agg{}
			rows[k] = a
			keys = append(keys, k)
		}
		a.mask |= r.bit
		a.n++
	}
	n := len(keys)
	groups, seqs, idxs, attempts, masks, counts := make([]int64, n), make([]int64, n), make([]int32, n), make([]int32, n), make([]int64, n), make([]int32, n)
	for i, k := range keys {
		groups[i], seqs[i], idxs[i], attempts[i] = k.group, k.seq, int32(k.idx), int32(k.attempts)
		masks[i], counts[i] = rows[k].mask, rows[k].n
	}
	res, err := b.db.QueryContext(ctx, b.stmts.ack, groups, seqs, idxs, attempts, masks, counts)
	if err != nil {
		return err
	}
	defer res.Close()
	done := make(map[deliveryKey]bool, n)
	for res.Next() {
		var k deliveryKey
		if err := res.Scan(&k.group, &k.seq, &k.idx, &k.attempts); err != nil {
			return err
		}
		done[k] = true
	}
	if err := res.Err(); err != nil {
		return err
	}
	for _, r := range batch {
		r.done = done[deliveryKey{r.groupID, r.seq, r.idx, r.attempts}]
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
		if r.done, _, err = b.settleSQLite(ctx, tx, r); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// settleSQLite deletes r's message from its row in tx, and the row once
// it holds no message; it reports whether r held its row, and the row's
// tx.
func (b *Bus) settleSQLite(ctx context.Context, tx *sql.Tx, r *settleReq) (done bool, rowTx int64, err error) {
	if r.bit == 0 {
		res, err := tx.ExecContext(ctx, b.stmts.ack, r.groupID, r.seq, r.idx, r.attempts)
		if err != nil {
			return false, 0, err
		}
		n, err := res.RowsAffected()
		return n == 1, 0, err
	}
	var mask int64
	switch err := tx.QueryRowContext(ctx, b.stmts.ackBit, r.groupID, r.seq, r.idx, r.attempts, r.bit).Scan(&rowTx, &mask); {
	case errors.Is(err, sql.ErrNoRows):
		return false, 0, nil
	case err != nil:
		return false, 0, err
	}
	if mask == 0 {
		if _, err := tx.ExecContext(ctx, b.stmts.deleteEmpty, r.groupID, r.seq, r.idx); err != nil {
			return false, 0, err
		}
	}
	return true, rowTx, nil
}

// setVisible makes d's message visible at visibleAt (0 with dec, a
// release) with dec attempts less: in its own row, moving it out of its
// claim's row if it is in one, and d with it. It reports false if d no
// longer holds its row (the visibility timeout ran out and another claim
// took it).
func (s *subscription) setVisible(ctx context.Context, d *delivery, visibleAt int64, dec int) (bool, error) {
	idx, bit := d.row()
	b := s.b
	if bit == 0 {
		stmt, args := b.stmts.setVisible, []any{s.groupID, d.seq, idx, d.attempts, visibleAt, bit}
		if dec != 0 { // a release: visible at once
			stmt, args = b.stmts.release, []any{s.groupID, d.seq, idx, d.attempts, dec}
		}
		res, err := b.db.ExecContext(ctx, stmt, args...)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		return n == 1, err
	}
	moved, err := s.split(ctx, d, visibleAt, dec)
	if moved {
		// A renewed delivery is settled in its own row from now on.
		d.claim = 0
	}
	return moved, err
}

// split moves d's message out of its claim's row into a row of its own.
func (s *subscription) split(ctx context.Context, d *delivery, visibleAt int64, dec int) (bool, error) {
	idx, bit := d.row()
	b := s.b
	if b.dialect == sqldialect.Postgres {
		res, err := b.db.ExecContext(ctx, b.stmts.split, s.groupID, d.seq, d.idx, d.attempts, visibleAt, bit, dec, idx)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		return n == 1, err
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback() }()
	ok, rowTx, err := b.settleSQLite(ctx, tx, d.settleReq())
	if err != nil || !ok {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, b.stmts.insertOne, s.groupID, d.seq, d.idx, rowTx, d.attempts-dec, visibleAt); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// claim leases messages for the group, n, or up to n+slack to take
// whole packs, and returns those that match the pattern (those that did
// not, see likePattern, are deleted), and whether there may be more to
// claim. It claims new messages (claimNew: whole packs after the
// group's cursor) and visible deliveries (claimOld: messages nacked,
// released, or whose visibility timeout ran out), one after the other
// while it has room: new ones first, so that a backlog costs one
// statement a claim, and old ones first once per poll interval and after
// a nack, so that they do not wait for the backlog to drain.
func (s *subscription) claim(ctx context.Context, n, slack int) ([]*delivery, bool, error) {
	now := time.Now()
	until := now.Add(s.b.cfg.ackWait)
	from, oldFirst := s.hint(now)
	var ds []*delivery
	var firstErr error
	more := false
	for _, old := range [2]bool{oldFirst, !oldFirst} {
		want := n - len(ds)
		if want <= 0 {
			break
		}
		var (
			got []*delivery
			err error
		)
		if old {
			got, err = s.claimOld(ctx, want, want+slack, from, now, until)
			if err == nil {
				s.moveHint(from, got, len(got) >= want)
			}
		} else {
			var full bool
			got, full, err = s.claimNew(ctx, want, want+slack, until)
			more = more || full
		}
		ds = append(ds, got...)
		if err != nil {
			firstErr = err
			break
		}
	}
	if firstErr != nil && len(ds) == 0 {
		return nil, false, firstErr
	}
	if firstErr != nil {
		// What was claimed before the error is the subscription's: hand
		// it out; the next claim tries again.
		s.b.cfg.logger.Debug("sqlbus: claim failed", "group", s.group, "pattern", s.pattern, "error", firstErr)
	}
	more = more || len(ds) >= n
	kept := ds[:0]
	for _, d := range ds {
		if d.msg == nil || !eventbus.Match(s.pattern, d.msg.Type) {
			d.settled.Store(true)
			s.drop(d)
			continue
		}
		kept = append(kept, d)
	}
	return kept, more, nil
}

// The claim hint: where in the group's deliveries, by seq, claimOld
// starts. On PostgreSQL the rows a group consumed stay in the primary
// key's index as dead entries until a vacuum, and a claim that started
// from the group's first seq would step over all of them. So after a
// full claim the next one starts after what it took. What it skips (one
// whose visibility timeout ran out, or that another instance nacked) is
// found by a claim from the start, which runs when a claim comes back
// short and at least once per poll interval; a nack of this subscription
// moves the hint back to its delivery at once. hint also reports whether
// the next claim takes old deliveries before new messages.
func (s *subscription) hint(now time.Time) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.hintReset) >= s.b.cfg.pollInterval {
		s.from, s.hintReset, s.oldFirst = 0, now, true
	}
	return s.from, s.oldFirst
}

// moveHint sets the next claimOld's start after one from from that
// returned ds, full or not; old deliveries stay first while it is full.
func (s *subscription) moveHint(from int64, ds []*delivery, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oldFirst = s.oldFirst && full
	if !full || len(ds) == 0 {
		s.from = 0
		return
	}
	if s.from == from { // no nack moved it meanwhile
		s.from = ds[len(ds)-1].seq + 1
	}
}

// lowerHint makes the next claim take old deliveries first, from seq or
// before.
func (s *subscription) lowerHint(seq int64) {
	s.mu.Lock()
	s.from = min(s.from, seq)
	s.oldFirst = true
	s.mu.Unlock()
}

// drop deletes a delivery that is not to be handed out.
func (s *subscription) drop(d *delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	req := d.settleReq()
	if err := s.b.acks.Do(ctx, req); err != nil || req.err != nil {
		s.b.cfg.logger.Debug("sqlbus: dropping a delivery failed", "group", s.group, "seq", d.seq, "error", errors.Join(err, req.err))
	}
}

// packCache decodes the packs of one claim, each once.
type packCache struct {
	s    *subscription
	seq  int64
	rows []row
	err  error
}

// message returns message idx of the pack seq whose body is body, or nil
// (logged) if it cannot be read: its delivery is then dropped.
func (c *packCache) message(seq int64, body []byte, idx int) *eventbus.Message {
	if c.rows == nil && c.err == nil || c.seq != seq {
		c.seq = seq
		c.rows, c.err = unpack(body)
	}
	var m *eventbus.Message
	err := c.err
	if err == nil && (idx < 0 || idx >= len(c.rows)) {
		err = fmt.Errorf("%w: message %d of %d", errBadPack, idx, len(c.rows))
	}
	if err == nil {
		m, err = c.rows[idx].message()
	}
	if err != nil {
		c.s.b.cfg.logger.Error("sqlbus: unreadable message, dropped", "group", c.s.group, "seq", seq, "idx", idx, "error", err)
		return nil
	}
	return m
}

// claimNew claims new messages, n to most, up to limit; see
// claimNewPostgres. It also reports whether it read as many packs as it
// could, so that there may be more.
func (s *subscription) claimNew(ctx context.Context, n, limit int, until time.Time) ([]*delivery, bool, error) {
	if s.b.dialect != sqldialect.Postgres {
		return s.claimNewSQLite(ctx, n, limit, until)
	}
	tier := packLimit(n)
	rows, err := s.b.db.QueryContext(ctx, s.b.stmts.claimNew[tier], s.groupID, n, until.UnixNano(), limit)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	cache := packCache{s: s}
	var ds []*delivery
	var scanned int
	for rows.Next() {
		var (
			seq, mask sql.NullInt64
			idx       sql.NullInt64
			body      []byte
		)
		if err := rows.Scan(&scanned, &seq, &idx, &mask, &body); err != nil {
			return nil, false, err
		}
		if seq.Valid {
			ds = s.deliveries(ds, seq.Int64, int(idx.Int64), uint64(mask.Int64), 1, until, body, &cache)
		}
	}
	return ds, scanned == packLimits[tier], rows.Err()
}

// errNoGroup reports a claim for a group that DeleteGroup deleted: there
// is nothing to claim.
var errNoGroup = errors.New("sqlbus: the group was deleted")

// beginSQLite begins a claim's transaction on SQLite with a write to the
// group's row, which returns its cursor: a SQLite transaction that reads
// first cannot always write.
func (s *subscription) beginSQLite(ctx context.Context) (*sql.Tx, int64, error) {
	tx, err := s.b.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	var cursor int64
	if err := tx.QueryRowContext(ctx, s.b.stmts.lockGroup, s.groupID).Scan(&cursor); err != nil {
		_ = tx.Rollback()
		if errors.Is(err, sql.ErrNoRows) {
			err = errNoGroup
		}
		return nil, 0, err
	}
	return tx, cursor, nil
}

// claimNewSQLite is claimNew on SQLite, in one transaction: SQLite has
// one writer, so every pack after the cursor is final, and the cursor
// moves over every pack the claim covers.
func (s *subscription) claimNewSQLite(ctx context.Context, n, limit int, until time.Time) ([]*delivery, bool, error) {
	tx, cursor, err := s.beginSQLite(ctx)
	if errors.Is(err, errNoGroup) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, s.b.stmts.readNew, cursor, n)
	if err != nil {
		return nil, false, err
	}
	type newPack struct {
		seq   int64
		n     int
		types string
		body  []byte
	}
	var packs []newPack
	upto, read := 0, 0
	for rows.Next() {
		read++
		var p newPack
		if err := rows.Scan(&p.seq, &p.n, &p.types, &p.body); err != nil {
			rows.Close()
			return nil, false, err
		}
		if upto >= n {
			break // packs are claimed whole: the last one may go beyond n
		}
		upto += p.n
		packs = append(packs, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(packs) == 0 {
		return nil, false, tx.Commit()
	}
	cache := packCache{s: s}
	var ds []*delivery
	var args []any
	for _, p := range packs {
		var types []string
		if err := json.Unmarshal([]byte(p.types), &types); err != nil {
			return nil, false, fmt.Errorf("%w: types: %w", errBadPack, err)
		}
		var mask uint64
		for idx, typ := range types {
			if idx < maxPackMessages && eventbus.Match(s.pattern, typ) {
				mask |= 1 << idx
			}
		}
		if mask == 0 {
			continue
		}
		keep := firstBits(mask, limit-len(ds))
		if keep != 0 {
			idx := -2 - bits.TrailingZeros64(keep)
			ds = s.deliveries(ds, p.seq, idx, keep, 1, until, p.body, &cache)
			args = append(args, s.groupID, p.seq, idx, 0, 1, until.UnixNano(), int64(keep), bits.OnesCount64(keep))
		}
		if rest := mask &^ keep; rest != 0 {
			args = append(args, s.groupID, p.seq, -2-bits.TrailingZeros64(rest), 0, 0, 0, int64(rest), bits.OnesCount64(rest))
		}
	}
	const perStmt = 4000 // 8 parameters each, within SQLite's 32766
	for len(args) > 0 {
		k := min(len(args), perStmt*8)
		if _, err := tx.ExecContext(ctx, insertDeliveries(s.b.cfg.table, k/8), args[:k]...); err != nil {
			return nil, false, err
		}
		args = args[k:]
	}
	if _, err := tx.ExecContext(ctx, s.b.stmts.moveCursor, s.groupID, packs[len(packs)-1].seq); err != nil {
		return nil, false, err
	}
	if err := tx.Commit(); err != nil {
		return nil, false, err
	}
	return ds, read == n, nil
}

// claimOld leases visible deliveries of the group, from seq from on,
// oldest first, rows while it has fewer than n messages, up to limit
// messages (a claim row with more is split).
func (s *subscription) claimOld(ctx context.Context, n, limit int, from int64, now, until time.Time) ([]*delivery, error) {
	if s.b.dialect != sqldialect.Postgres {
		return s.claimOldSQLite(ctx, n, limit, from, now, until)
	}
	rows, err := s.b.db.QueryContext(ctx, s.b.stmts.claimOld, s.groupID, now.UnixNano(), n, until.UnixNano(), from, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cache := packCache{s: s}
	var ds []*delivery
	for rows.Next() {
		var (
			seq, mask     int64
			idx, attempts int
			body          []byte
		)
		if err := rows.Scan(&seq, &idx, &attempts, &mask, &body); err != nil {
			return nil, err
		}
		if idx <= -2 {
			ds = s.deliveries(ds, seq, idx, uint64(mask), attempts, until, body, &cache)
			continue
		}
		ds = append(ds, &delivery{s: s, seq: seq, idx: idx, attempts: attempts, until: until, msg: cache.message(seq, body, idx)})
	}
	return ds, rows.Err()
}

func (s *subscription) claimOldSQLite(ctx context.Context, n, limit int, from int64, now, until time.Time) ([]*delivery, error) {
	tx, _, err := s.beginSQLite(ctx)
	if errors.Is(err, errNoGroup) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, s.b.stmts.claimOld, s.groupID, now.UnixNano(), n, from)
	if err != nil {
		return nil, err
	}
	type claimed struct {
		seq, tx, mask int64
		idx, attempts int
	}
	var cs []claimed
	for rows.Next() {
		var c claimed
		if err := rows.Scan(&c.seq, &c.idx, &c.tx, &c.attempts, &c.mask); err != nil {
			rows.Close()
			return nil, err
		}
		cs = append(cs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var seqs []int64
	total := 0
	for i := range cs {
		c := &cs[i]
		if total >= n {
			cs = cs[:i]
			break
		}
		keep, count := uint64(c.mask), 1
		if c.idx <= -2 {
			keep = firstBits(keep, limit-total)
			count = bits.OnesCount64(keep)
			if rest := uint64(c.mask) &^ keep; rest != 0 {
				if _, err := tx.ExecContext(ctx, insertDeliveries(s.b.cfg.table, 1), s.groupID, c.seq, -2-bits.TrailingZeros64(rest),
					c.tx, c.attempts, 0, int64(rest), bits.OnesCount64(rest)); err != nil {
					return nil, err
				}
			}
		}
		c.mask, c.attempts = int64(keep), c.attempts+1
		if _, err := tx.ExecContext(ctx, s.b.stmts.updateClaim, s.groupID, c.seq, c.idx, until.UnixNano(), c.mask, count); err != nil {
			return nil, err
		}
		total += count
		seqs = append(seqs, c.seq)
	}
	if len(cs) == 0 {
		return nil, tx.Commit()
	}
	list, err := json.Marshal(seqs)
	if err != nil {
		return nil, err
	}
	bodies := make(map[int64][]byte)
	prows, err := tx.QueryContext(ctx, s.b.stmts.readPacks, string(list))
	if err != nil {
		return nil, err
	}
	for prows.Next() {
		var seq int64
		var body []byte
		if err := prows.Scan(&seq, &body); err != nil {
			prows.Close()
			return nil, err
		}
		bodies[seq] = body
	}
	prows.Close()
	if err := prows.Err(); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	cache := packCache{s: s}
	var ds []*delivery
	for _, c := range cs {
		body := bodies[c.seq] // none: the message was pruned (WithMaxAge), its delivery is dropped
		if c.idx <= -2 {
			ds = s.deliveries(ds, c.seq, c.idx, uint64(c.mask), c.attempts, until, body, &cache)
			continue
		}
		ds = append(ds, &delivery{s: s, seq: c.seq, idx: c.idx, attempts: c.attempts, until: until, msg: cache.message(c.seq, body, c.idx)})
	}
	return ds, nil
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
	var err error
	for _, r := range rs {
		// One statement each: a close releases what one subscription
		// held, rarely much.
		if _, e := s.setVisible(ctx, r.d, 0, r.dec); e != nil {
			err = e
			break
		}
	}
	if err != nil {
		s.b.cfg.logger.Warn("sqlbus: releasing deliveries failed; they come back after the visibility timeout",
			"group", s.group, "pattern", s.pattern, "deliveries", len(rs), "error", err)
	}
}
