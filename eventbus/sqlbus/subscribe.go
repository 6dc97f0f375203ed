package sqlbus

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// Subscribe registers the consumer group (group, pattern), if it is new,
// and starts claiming its deliveries. A new group receives the messages
// published after its registration committed; from then on, messages wait
// for it whether or not an instance runs (see DeleteGroup).
//
// One goroutine per subscription claims up to the prefetch in one
// statement whenever half of what it holds was handed out, and waits when
// there is nothing to claim: until a publish wakes it (this process's, or
// on PostgreSQL any process's through LISTEN/NOTIFY), one of its
// deliveries is nacked, or the poll interval ends.
func (b *Bus) Subscribe(ctx context.Context, group, pattern string, opts ...eventbus.SubscribeOption) (eventbus.Subscription, error) {
	if err := eventbus.ValidateGroup(group); err != nil {
		return nil, fmt.Errorf("sqlbus: subscribe: %w", err)
	}
	if err := eventbus.ValidatePattern(pattern); err != nil {
		return nil, fmt.Errorf("sqlbus: subscribe: %w", err)
	}
	settings, err := eventbus.NewSubscribeSettings(opts...)
	if err != nil {
		return nil, fmt.Errorf("sqlbus: subscribe: %w", err)
	}
	if b.isClosedNow() {
		return nil, fmt.Errorf("sqlbus: subscribe: %w", eventbus.ErrClosed)
	}
	prefetch := settings.Prefetch
	if prefetch == 0 {
		prefetch = b.cfg.prefetch
	}
	like, minDots, maxDots := likePattern(pattern)
	var id int64
	if err := b.db.QueryRowContext(ctx, b.stmts.subGroup, group, pattern, like, minDots, maxDots, time.Now().UnixNano()).Scan(&id); err != nil {
		return nil, fmt.Errorf("sqlbus: subscribe %s %s: %w", group, pattern, err)
	}
	s := &subscription{b: b, group: group, pattern: pattern, groupID: id, prefetch: prefetch,
		msgs: make(chan *delivery, prefetch), wake: make(chan struct{}, 1), room: make(chan struct{}, 1),
		done: make(chan struct{}), held: make(map[*delivery]struct{})}
	b.mu.Lock()
	if b.isClosed {
		b.mu.Unlock()
		return nil, fmt.Errorf("sqlbus: subscribe: %w", eventbus.ErrClosed)
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	s.fetcher.Go(s.run)
	return s, nil
}

// subscription is one consumer of a group. Its fetcher goroutine (run)
// fills msgs; Next and NextBatch hand out from it, and claim directly
// when a batch wants more than it holds.
type subscription struct {
	b        *Bus
	group    string
	pattern  string
	groupID  int64
	prefetch int
	msgs     chan *delivery // claimed, not handed out; only run sends, never more than its free slots
	wake     chan struct{}  // something may be claimable
	room     chan struct{}  // msgs fell to half its capacity or below
	done     chan struct{}  // closed by close
	fetcher  sync.WaitGroup
	once     sync.Once

	mu        sync.Mutex
	held      map[*delivery]struct{} // handed out, not settled: released by close
	overflow  []*delivery            // claimed beyond msgs's room (the rest of a pack): run moves them in
	closed    bool
	from      int64     // the claim hint: see hint
	oldFirst  bool      // the next claim takes old deliveries first: see claim
	hintReset time.Time // when a claim last started from the group's first seq
}

func (s *subscription) wakeUp() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run claims deliveries into msgs until the subscription closes.
func (s *subscription) run() {
	poll := time.NewTimer(s.b.cfg.pollInterval)
	defer poll.Stop()
	failures := 0
	for {
		more := false
		if s.queue(nil) && len(s.msgs) <= s.prefetch/2 {
			held := len(s.msgs)
			want := s.prefetch - held
			// A claim is not cancelled when the subscription closes: its
			// rows would stay leased until the visibility timeout if it
			// committed with its reply lost. close waits for it instead,
			// and releases what it claimed.
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			ds, full, err := s.claim(ctx, want, s.prefetch/2)
			cancel()
			if err != nil {
				failures++
				pause := min(s.b.cfg.pollInterval, backoff.Delay(failures))
				s.b.cfg.logger.Warn("sqlbus: claim failed", "group", s.group, "pattern", s.pattern, "error", err, "retry_in", pause)
				if !s.pause(pause) {
					return
				}
				continue
			}
			failures = 0
			s.queue(ds)
			more = full // there may be more waiting
		}
		if more {
			continue
		}
		poll.Reset(s.b.cfg.pollInterval)
		select {
		case <-s.done:
			return
		case <-s.wake:
		case <-s.room:
		case <-poll.C:
		}
	}
}

// queue hands the overflow, then ds, to Next, as far as msgs has room,
// and keeps the rest in the overflow; it reports whether the overflow is
// empty. It never blocks: only run sends.
func (s *subscription) queue(ds []*delivery) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.overflow = append(s.overflow, ds...)
	k := 0
	for k < len(s.overflow) && len(s.msgs) < cap(s.msgs) {
		s.msgs <- s.overflow[k]
		k++
	}
	s.overflow = s.overflow[k:]
	if len(s.overflow) == 0 {
		s.overflow = nil
	}
	return len(s.overflow) == 0
}

// pause waits d, or until the subscription closes; it reports whether the
// subscription is still open.
func (s *subscription) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

// Next returns the next claimed delivery. One whose visibility timeout ran
// out while it waited for a worker is renewed first, if no other instance
// claimed it meanwhile, and skipped otherwise.
func (s *subscription) Next(ctx context.Context) (eventbus.Delivery, error) {
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("sqlbus: next: %w", eventbus.ErrClosed)
		default:
		}
		var d *delivery
		select {
		case d = <-s.msgs:
		case <-s.done:
			return nil, fmt.Errorf("sqlbus: next: %w", eventbus.ErrClosed)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if len(s.msgs) <= s.prefetch/2 {
			select {
			case s.room <- struct{}{}:
			default:
			}
		}
		ok, err := s.handOut(d)
		if err != nil {
			return nil, err
		}
		if ok {
			return d, nil
		}
	}
}

// handOut records d as held by the consumer. It reports false for a
// delivery whose visibility timeout ran out and that another instance
// claimed since, and ErrClosed (releasing d) once the subscription
// closed.
func (s *subscription) handOut(d *delivery) (bool, error) {
	if now := time.Now(); now.After(d.until) && !s.renew(d, now) {
		d.settled.Store(true)
		return false, nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.release([]*delivery{d}, nil)
		return false, fmt.Errorf("sqlbus: next: %w", eventbus.ErrClosed)
	}
	s.held[d] = struct{}{}
	s.mu.Unlock()
	return true, nil
}

// renew starts a new visibility timeout for d, which ran out while d
// waited for a worker, unless another instance claimed d meanwhile (its
// attempt count then moved on). Without it the claim would be lost, and
// the attempt counted for no handler's run.
func (s *subscription) renew(d *delivery, now time.Time) bool {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	until := now.Add(s.b.cfg.ackWait)
	ok, err := s.setVisible(ctx, d, until.UnixNano(), 0)
	if err != nil {
		s.b.cfg.logger.Debug("sqlbus: renewing a claim failed", "group", s.group, "seq", d.seq, "error", err)
		return false
	}
	if !ok {
		return false
	}
	d.until = until
	return true
}

// unhold forgets a delivery that is being settled.
func (s *subscription) unhold(d *delivery) {
	s.mu.Lock()
	delete(s.held, d)
	s.mu.Unlock()
}

// NextBatch returns up to max deliveries: those the subscription holds,
// and more claimed directly, in one statement, when it holds fewer; it
// blocks for the first one as Next does, and waits up to wait after it
// for more. It is safe for concurrent use with Next and with itself.
func (s *subscription) NextBatch(ctx context.Context, limit int, wait time.Duration) ([]eventbus.Delivery, error) {
	limit = max(limit, 1)
	batch := s.gather(ctx, nil, limit)
	if len(batch) == 0 {
		d, err := s.Next(ctx)
		if err != nil {
			return nil, err
		}
		batch = s.gather(ctx, append(batch, d), limit)
	}
	if len(batch) < limit && wait > 0 {
		// The claiming goroutine claims again when Next takes a
		// delivery and leaves msgs half empty; with msgs empty already,
		// nothing would take one: wake it, or the wait would last until
		// its next poll even with a backlog waiting.
		s.wakeUp()
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		for len(batch) < limit {
			d, err := s.Next(wctx)
			if err != nil {
				break // the next call reports a lasting error
			}
			batch = s.gather(ctx, append(batch, d), limit)
		}
	}
	return batch, nil
}

// gather adds to batch, up to limit, what msgs holds, then what one
// claim returns.
func (s *subscription) gather(ctx context.Context, batch []eventbus.Delivery, limit int) []eventbus.Delivery {
	for len(batch) < limit {
		select {
		case d := <-s.msgs:
			if ok, err := s.handOut(d); ok {
				batch = append(batch, d)
			} else if err != nil {
				return batch
			}
			continue
		default:
		}
		break
	}
	if len(batch) >= limit {
		return batch
	}
	select {
	case <-s.done:
		return batch
	default:
	}
	ds, _, err := s.claim(ctx, limit-len(batch), 0)
	if err != nil {
		s.b.cfg.logger.Debug("sqlbus: claim failed", "group", s.group, "pattern", s.pattern, "error", err)
	}
	if extra := len(batch) + len(ds) - limit; extra > 0 {
		// The rest of a pack: Next hands it out, or close releases it.
		rest := ds[len(ds)-extra:]
		ds = ds[:len(ds)-extra]
		s.mu.Lock()
		closed := s.closed
		if !closed {
			s.overflow = append(s.overflow, rest...)
		}
		s.mu.Unlock()
		if closed {
			s.release(rest, nil)
		}
		s.wakeUp()
	}
	for i, d := range ds {
		ok, err := s.handOut(d)
		if err != nil {
			s.release(ds[i+1:], nil)
			return batch
		}
		if ok {
			batch = append(batch, d)
		}
	}
	return batch
}

// Close stops claiming and releases what the subscription claimed but did
// not see settled (see Bus.Close).
func (s *subscription) Close() error {
	s.b.forget(s)
	s.close()
	return nil
}

// closeTimeout bounds the release of a closing subscription's deliveries;
// what it could not release comes back when its visibility timeout ends.
const closeTimeout = 5 * time.Second

func (s *subscription) close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		held := s.held
		s.held = nil
		s.mu.Unlock()
		close(s.done)
		s.fetcher.Wait()
		s.mu.Lock()
		queued := s.overflow
		s.overflow = nil
		s.mu.Unlock()
		for {
			select {
			case d := <-s.msgs:
				queued = append(queued, d)
				continue
			default:
			}
			break
		}
		var handed []*delivery
		for d := range held {
			handed = append(handed, d)
		}
		s.release(queued, handed)
	})
}
