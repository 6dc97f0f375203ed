package redisbus

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// delivery is one delivery of a stream entry to a consumer of a group.
type delivery struct {
	s       *subscription
	id      string // the stream entry's ID
	msg     *eventbus.Message
	attempt int
	settled atomic.Bool
}

func (d *delivery) Message() *eventbus.Message { return d.msg }

// Attempt is the entry's delivery counter in the group's PEL: 1 when read
// as new, counted up by every claim, whichever consumer makes it.
func (d *delivery) Attempt() int { return d.attempt }

// Ack acknowledges the entry (XACK). Unless the bus has WithConfirmedAcks it
// queues the ack, sent in a batch with others, and returns at once.
func (d *delivery) Ack(ctx context.Context) error {
	if !d.settled.CompareAndSwap(false, true) {
		return eventbus.ErrStaleDelivery
	}
	return wrap("ack", d.s.ack(ctx, d.id))
}

// Nack leaves the entry pending and hands it back to the group after
// delay: any instance claims it then, and the claim counts the delivery.
// It returns an error wrapping eventbus.ErrStaleDelivery if another
// consumer claimed the entry in the meantime (it was idle for the claim
// min idle).
func (d *delivery) Nack(ctx context.Context, delay time.Duration) error {
	if !d.settled.CompareAndSwap(false, true) {
		return eventbus.ErrStaleDelivery
	}
	s := d.s
	ok, err := nackScript.Run(ctx, s.b.rdb, []string{s.b.cfg.stream, s.delayed},
		s.group, s.consumer, d.id, max(delay, 0).Milliseconds(), s.b.cfg.minIdle.Milliseconds()).Int()
	if err != nil {
		return wrap("nack", err)
	}
	if ok == 0 {
		return wrap("nack", eventbus.ErrStaleDelivery)
	}
	s.nacked(max(delay, 0))
	return nil
}

// Term acknowledges the entry, so that it is never redelivered: the
// eventbus.DeadLetter middleware published it as a dead letter first, or
// it is dropped on purpose.
func (d *delivery) Term(ctx context.Context) error {
	if !d.settled.CompareAndSwap(false, true) {
		return eventbus.ErrStaleDelivery
	}
	return wrap("term", d.s.ack(ctx, d.id))
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redisbus: %s: %w", op, err)
}

// ackReq is one queued ack; done, if set, receives its result.
type ackReq struct {
	id   string
	done chan error
}

// ack acknowledges entry id: queued for ackLoop, waiting for its result
// with WithConfirmedAcks, or sent directly once the subscription closed.
func (s *subscription) ack(ctx context.Context, id string) error {
	req := ackReq{id: id}
	if s.b.cfg.confirmAcks {
		req.done = make(chan error, 1)
	}
	if !s.queueAck(req) {
		return s.b.rdb.XAck(ctx, s.b.cfg.stream, s.group, id).Err()
	}
	if req.done == nil {
		return nil
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// queueAck queues req for ackLoop; false if the subscription has stopped
// queueing.
func (s *subscription) queueAck(req ackReq) bool {
	s.ackMu.RLock()
	defer s.ackMu.RUnlock()
	if s.ackClosed {
		return false
	}
	s.acks <- req // ackLoop runs until ackClosed is set: this send ends
	return true
}

// maxAckBatch bounds the IDs of one XACK.
const maxAckBatch = 512

// ackLoop sends the queued acks, as many as are queued in one XACK, until
// close stops it; it sends what is queued then before it returns.
func (s *subscription) ackLoop() {
	batch := make([]ackReq, 0, maxAckBatch)
	ids := make([]string, 0, maxAckBatch)
	for {
		batch = batch[:0]
		select {
		case req := <-s.acks:
			batch = append(batch, req)
		case <-s.ackStop:
			for len(s.acks) > 0 { // queueing has stopped: what is queued is all
				batch = batch[:0]
				for len(batch) < maxAckBatch && len(s.acks) > 0 {
					batch = append(batch, <-s.acks)
				}
				s.sendAcks(batch, ids)
			}
			return
		}
	more:
		for len(batch) < maxAckBatch {
			select {
			case req := <-s.acks:
				batch = append(batch, req)
			default:
				break more
			}
		}
		s.sendAcks(batch, ids)
	}
}

// sendAcks acknowledges batch in one XACK, retrying through a reconnect for
// a few seconds: a lost ack costs a redelivery, not a message.
func (s *subscription) sendAcks(batch []ackReq, ids []string) {
	ids = ids[:0]
	for _, r := range batch {
		ids = append(ids, r.id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), blockFor)
	defer cancel()
	var err error
	for attempt := 1; ; attempt++ {
		if err = s.b.rdb.XAck(ctx, s.b.cfg.stream, s.group, ids...).Err(); err == nil || !transient(err) {
			break
		}
		if sleep(ctx, recoverBackoff.Delay(attempt)) != nil {
			break
		}
	}
	if err != nil {
		s.b.cfg.logger.Warn("redisbus: ack failed; the entries will be redelivered", "group", s.group, "entries", len(ids), "error", err)
	}
	for _, r := range batch {
		if r.done != nil {
			r.done <- err
		}
	}
}
