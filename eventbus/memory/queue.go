package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// entry is one message in one queue, from publish until it is settled.
type entry struct {
	msg     *eventbus.Message // pristine; each delivery gets a clone
	attempt int
	cur     *delivery // the unsettled delivery, nil when not in flight
}

// fifo is a slice-backed queue of entries.
type fifo struct {
	buf  []*entry
	head int
}

func (f *fifo) push(e *entry) { f.buf = append(f.buf, e) }

func (f *fifo) len() int { return len(f.buf) - f.head }

func (f *fifo) front() *entry { return f.buf[f.head] }

func (f *fifo) pop() *entry {
	if f.head == len(f.buf) {
		return nil
	}
	e := f.buf[f.head]
	f.buf[f.head] = nil
	f.head++
	if f.head == len(f.buf) {
		f.buf, f.head = f.buf[:0], 0
	} else if f.head > 64 && f.head*2 > len(f.buf) {
		n := copy(f.buf, f.buf[f.head:])
		clear(f.buf[n:])
		f.buf, f.head = f.buf[:n], 0
	}
	return e
}

// queue is the durable queue of one (group, pattern) pair.
//
// An entry is ready when it may be delivered now. An entry with a Subject
// is ready only while it is the head of its subject's chain, which gives
// per-subject order across any number of workers: the next message of a
// subject waits until the previous one is settled.
type queue struct {
	key      queueKey
	notify   chan struct{} // one wake-up token, passed on while work remains
	closedCh chan struct{}

	mu     sync.Mutex
	ready  fifo
	chains map[string]*fifo
	timers map[*entry]*time.Timer
	closed bool
}

func newQueue(k queueKey) *queue {
	return &queue{
		key:      k,
		notify:   make(chan struct{}, 1),
		closedCh: make(chan struct{}),
		chains:   make(map[string]*fifo),
		timers:   make(map[*entry]*time.Timer),
	}
}

func (q *queue) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// makeReady must be called with q.mu held.
func (q *queue) makeReady(e *entry) {
	q.ready.push(e)
	q.signal()
}

func (q *queue) push(m *eventbus.Message) {
	e := &entry{msg: m}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if m.Subject == "" {
		q.makeReady(e)
		return
	}
	ch := q.chains[m.Subject]
	if ch == nil {
		ch = &fifo{}
		q.chains[m.Subject] = ch
	}
	ch.push(e)
	if ch.len() == 1 {
		q.makeReady(e)
	}
}

func (q *queue) next(ctx context.Context, s *subscription) (eventbus.Delivery, error) {
	for {
		q.mu.Lock()
		err := ctx.Err()
		if err == nil && (q.closed || s.closed) {
			err = eventbus.ErrClosed
		}
		if err != nil {
			// This call may have taken the wake-up token (below) and now
			// leaves without a message: pass it on to the consumers still
			// waiting, or they would sleep until the next publish.
			if !q.closed && q.ready.len() > 0 {
				q.signal()
			}
			q.mu.Unlock()
			return nil, err
		}
		if e := q.ready.pop(); e != nil {
			d := q.handOut(e, s)
			more := q.ready.len() > 0
			q.mu.Unlock()
			if more {
				q.signal()
			}
			return d, nil
		}
		q.mu.Unlock()
		select {
		case <-q.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
			return nil, eventbus.ErrClosed
		case <-q.closedCh:
			return nil, eventbus.ErrClosed
		}
	}
}

// handOut delivers e to s; q.mu must be held.
func (q *queue) handOut(e *entry, s *subscription) *delivery {
	e.attempt++
	d := &delivery{q: q, e: e, sub: s, msg: e.msg.Clone(), attempt: e.attempt}
	e.cur = d
	s.inflight[e] = struct{}{}
	return d
}

// nextBatch is NextBatch (see eventbus.BatchSubscription): the first
// delivery as next hands it out, then every ready entry up to limit under
// one lock, waiting for more until wait has passed since the first. An
// entry with a Subject is ready only while it heads its subject's chain, so
// a batch holds at most one message of each subject and per-subject order
// holds across batches too.
func (q *queue) nextBatch(ctx context.Context, s *subscription, limit int, wait time.Duration) ([]eventbus.Delivery, error) {
	first, err := q.next(ctx, s)
	if err != nil {
		return nil, err
	}
	limit = max(limit, 1)
	batch := make([]eventbus.Delivery, 1, min(limit, 64))
	batch[0] = first
	take := func() {
		q.mu.Lock()
		if q.closed || s.closed {
			q.mu.Unlock()
			return
		}
		for len(batch) < limit {
			e := q.ready.pop()
			if e == nil {
				break
			}
			batch = append(batch, q.handOut(e, s))
		}
		more := q.ready.len() > 0
		q.mu.Unlock()
		if more {
			q.signal() // pass the wake-up on to the other consumers
		}
	}
	take()
	if len(batch) == limit || wait <= 0 {
		return batch, nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(batch) < limit {
		select {
		case <-q.notify:
			take()
		case <-timer.C:
			return batch, nil
		case <-ctx.Done():
			return batch, nil
		case <-s.done:
			return batch, nil
		case <-q.closedCh:
			return batch, nil
		}
	}
	return batch, nil
}

type settlement int

const (
	settleAck settlement = iota
	settleNack
)

func (q *queue) settle(d *delivery, how settlement, delay time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := d.e
	if e.cur != d || q.closed {
		return eventbus.ErrStaleDelivery
	}
	e.cur = nil
	delete(d.sub.inflight, e)
	if how == settleNack {
		q.retry(e, delay)
		return nil
	}
	if subj := e.msg.Subject; subj != "" {
		ch := q.chains[subj]
		ch.pop() // e is the chain's head: only heads are ever ready
		if ch.len() > 0 {
			q.makeReady(ch.front())
		} else {
			delete(q.chains, subj)
		}
	}
	return nil
}

// retry makes e ready again after delay; q.mu must be held.
func (q *queue) retry(e *entry, delay time.Duration) {
	if delay <= 0 {
		q.makeReady(e)
		return
	}
	q.timers[e] = time.AfterFunc(delay, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if _, ok := q.timers[e]; !ok || q.closed {
			return
		}
		delete(q.timers, e)
		q.makeReady(e)
	})
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	for e, t := range q.timers {
		t.Stop()
		delete(q.timers, e)
	}
	close(q.closedCh)
}

// subscription is one consumer of a queue.
type subscription struct {
	q      *queue
	client *Client
	done   chan struct{}

	// Guarded by q.mu.
	inflight map[*entry]struct{}
	closed   bool
}

func (s *subscription) Next(ctx context.Context) (eventbus.Delivery, error) {
	d, err := s.q.next(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("memory: next: %w", err)
	}
	return d, nil
}

// NextBatch hands over up to max deliveries at once, under
// eventbus.BatchSubscription's contract.
func (s *subscription) NextBatch(ctx context.Context, max int, wait time.Duration) ([]eventbus.Delivery, error) {
	ds, err := s.q.nextBatch(ctx, s, max, wait)
	if err != nil {
		return nil, fmt.Errorf("memory: next batch: %w", err)
	}
	return ds, nil
}

// Close stops the subscription; its unsettled deliveries are redelivered.
func (s *subscription) Close() error {
	s.client.forget(s)
	s.close()
	return nil
}

func (s *subscription) close() {
	q := s.q
	q.mu.Lock()
	if s.closed {
		q.mu.Unlock()
		return
	}
	s.closed = true
	for e := range s.inflight {
		e.cur = nil
		if !q.closed {
			q.makeReady(e)
		}
	}
	s.inflight = nil
	q.mu.Unlock()
	close(s.done)
}

// delivery is one hand-out of an entry.
type delivery struct {
	q       *queue
	e       *entry
	sub     *subscription
	msg     *eventbus.Message
	attempt int
}

func (d *delivery) Message() *eventbus.Message { return d.msg }

func (d *delivery) Attempt() int { return d.attempt }

func (d *delivery) Ack(context.Context) error { return d.q.settle(d, settleAck, 0) }

// Term settles like Ack: the bus keeps no record of terminated messages.
func (d *delivery) Term(context.Context) error { return d.q.settle(d, settleAck, 0) }

func (d *delivery) Nack(_ context.Context, delay time.Duration) error {
	return d.q.settle(d, settleNack, delay)
}

var _ eventbus.BatchSubscription = (*subscription)(nil)
