package redisbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
	"github.com/redis/go-redis/v9"
)

// GroupName is the Redis consumer group of a consumer group and pattern:
// "<group>:<pattern>". A group name holds no ':', so distinct pairs never
// share a Redis group.
func GroupName(group, pattern string) string { return group + ":" + pattern }

// heir is the consumer that a closing subscription hands its unsettled
// entries to, marked claimable at once, so that it can delete itself from
// the group: consumers of closed subscriptions do not pile up.
const heir = "released"

// blockFor bounds each blocking read. Close interrupts a read with CLIENT
// UNBLOCK, so it is only what a Close racing the start of a read waits.
const blockFor = 2 * time.Second

// Subscribe creates the Redis consumer group of (group, pattern) on the
// bus's stream, if it does not exist (at the stream's end, or at its start
// with WithStartFromOldest), and starts reading it as a new consumer.
//
// The group reads every entry of the stream and acknowledges at once,
// without handing them out, those whose type the pattern does not match;
// see the package documentation for that choice.
func (b *Bus) Subscribe(ctx context.Context, group, pattern string, opts ...eventbus.SubscribeOption) (eventbus.Subscription, error) {
	if err := eventbus.ValidateGroup(group); err != nil {
		return nil, fmt.Errorf("redisbus: subscribe: %w", err)
	}
	if err := eventbus.ValidatePattern(pattern); err != nil {
		return nil, fmt.Errorf("redisbus: subscribe: %w", err)
	}
	settings, err := eventbus.NewSubscribeSettings(opts...)
	if err != nil {
		return nil, fmt.Errorf("redisbus: subscribe: %w", err)
	}
	if b.isClosedNow() {
		return nil, fmt.Errorf("redisbus: subscribe: %w", eventbus.ErrClosed)
	}
	prefetch := settings.Prefetch
	if prefetch == 0 {
		prefetch = b.cfg.prefetch
	}
	name := GroupName(group, pattern)
	s := &subscription{
		b: b, group: name, pattern: pattern, consumer: consumerName(), delayed: b.cfg.stream + ":delayed:" + name,
		prefetch: prefetch,
		msgs:     make(chan *delivery, prefetch),
		acks:     make(chan ackReq, 1024),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		ackStop:  make(chan struct{}),
	}
	if err := s.createGroup(ctx); err != nil {
		return nil, fmt.Errorf("redisbus: subscribe %s: %w", name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.isClosed {
		return nil, fmt.Errorf("redisbus: subscribe: %w", eventbus.ErrClosed)
	}
	b.subs[s] = struct{}{}
	s.workers.Go(s.read)
	s.workers.Go(s.claim)
	s.ackers.Go(s.ackLoop)
	return s, nil
}

// consumerName names a new consumer after its process and a random suffix,
// so that an operator reading XINFO CONSUMERS knows where each one runs.
func consumerName() string {
	host, _ := os.Hostname()
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(r[:]))
}

// subscription is one consumer of a Redis consumer group. Two goroutines
// feed msgs: read, which blocks in XREADGROUP for new entries, and claim,
// which takes over entries idle for the claim min idle and redeliveries
// that are due. A third, ackLoop, sends the acks in batches. close stops
// them all.
type subscription struct {
	b        *Bus
	group    string // the Redis group, GroupName(group, pattern)
	pattern  string
	consumer string
	delayed  string // sorted set of the group's delayed redeliveries
	prefetch int

	msgs    chan *delivery
	acks    chan ackReq
	wake    chan struct{} // a Nack asks the claimer to look again
	done    chan struct{} // closed by close: read and claim return
	ackStop chan struct{} // closed by close once read and claim returned
	once    sync.Once
	workers sync.WaitGroup // read and claim
	ackers  sync.WaitGroup // ackLoop

	mu       sync.Mutex
	readerID int64     // CLIENT ID of the connection read blocks on, 0 if none
	due      time.Time // earliest redelivery a Nack of this subscription asked for

	ackMu     sync.RWMutex // held shared while queueing an ack, exclusively to stop queueing
	ackClosed bool
}

// createGroup creates the Redis group, and the stream with it, unless the
// group exists.
func (s *subscription) createGroup(ctx context.Context) error {
	start := "$"
	if s.b.cfg.startOldest {
		start = "0"
	}
	err := s.b.rdb.XGroupCreateMkStream(ctx, s.b.cfg.stream, s.group, start).Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// recreateGroup creates the group again after Redis lost it (a restart
// without persistence, or an operator deleted it). It starts at the
// stream's first entry: what the stream still holds was not acknowledged
// by a group that no longer exists.
func (s *subscription) recreateGroup(ctx context.Context) error {
	err := s.b.rdb.XGroupCreateMkStream(ctx, s.b.cfg.stream, s.group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	s.b.cfg.logger.Warn("redisbus: consumer group recreated", "stream", s.b.cfg.stream, "group", s.group)
	return nil
}

// noGroup reports the error of a command on a group or stream that does
// not exist (the error code NOGROUP).
func noGroup(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "NOGROUP")
}

// recoverBackoff paces the retries of reads and claims while Redis is
// unreachable.
var recoverBackoff = retry.Backoff{Initial: 50 * time.Millisecond, Max: time.Second, Jitter: retry.EqualJitter}

// failed handles an error of read or claim: it recreates a lost group, or
// logs and waits before the next try. It returns false once the
// subscription is closing.
func (s *subscription) failed(op string, err error, attempt int) bool {
	if s.closing() {
		return false
	}
	if noGroup(err) {
		ctx, cancel := context.WithTimeout(context.Background(), blockFor)
		err = s.recreateGroup(ctx)
		cancel()
		if err == nil {
			return true
		}
	}
	d := recoverBackoff.Delay(attempt)
	s.b.cfg.logger.Debug("redisbus: "+op+" failed, retrying", "group", s.group, "attempt", attempt, "in", d, "error", err)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.done:
		return false
	case <-t.C:
		return true
	}
}

func (s *subscription) closing() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// read reads new entries with XREADGROUP on a connection of its own, so
// that close can interrupt the blocking read (CLIENT UNBLOCK).
func (s *subscription) read() {
	var conn *redis.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	ctx := context.Background()
	for attempt := 0; ; {
		if s.closing() {
			return
		}
		if conn == nil {
			conn = s.b.rdb.Conn()
			id, err := conn.ClientID(ctx).Result()
			if err != nil {
				_ = conn.Close()
				conn = nil
				attempt++
				if !s.failed("read", err, attempt) {
					return
				}
				continue
			}
			s.mu.Lock()
			s.readerID = id
			s.mu.Unlock()
			if s.closing() { // close may have looked before readerID was set
				return
			}
		}
		count := max(1, cap(s.msgs)-len(s.msgs))
		streams, err := conn.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: s.group, Consumer: s.consumer, Streams: []string{s.b.cfg.stream, ">"},
			Count: int64(count), Block: blockFor,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			if !noGroup(err) {
				_ = conn.Close() // the connection may be broken: dial a new one
				conn = nil
				s.mu.Lock()
				s.readerID = 0
				s.mu.Unlock()
			}
			attempt++
			if !s.failed("read", err, attempt) {
				return
			}
			continue
		}
		attempt = 0
		for _, st := range streams {
			for _, e := range st.Messages {
				if !s.offer(e, 1) {
					return
				}
			}
		}
	}
}

// claim claims what is due for this consumer: at once, then every claim
// interval, and when a Nack's delay ends.
func (s *subscription) claim() {
	interval := min(max(s.b.cfg.minIdle/4, 10*time.Millisecond), time.Second)
	reapAfter := s.reapAfter()
	var reaped time.Time // never: the first pass reaps
	t := time.NewTimer(0)
	defer t.Stop()
	attempt := 0
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		case <-t.C:
		}
		err := s.claimDue()
		if err == nil && time.Since(reaped) >= reapAfter {
			err = s.reap(reapAfter)
			reaped = time.Now()
		}
		if err != nil {
			attempt++
			if !s.failed("claim", err, attempt) {
				return
			}
		} else {
			attempt = 0
		}
		wait := interval
		s.mu.Lock()
		if !s.due.IsZero() {
			if d := time.Until(s.due); d <= 0 {
				s.due = time.Time{}
			} else {
				wait = min(wait, d)
			}
		}
		s.mu.Unlock()
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// reapAfter is how long a consumer with nothing pending stays unseen
// before a subscription of its group deletes it: ten times the claim min
// idle, and at least a minute, far beyond the blocking read (blockFor)
// after which a live consumer is seen again.
func (s *subscription) reapAfter() time.Duration {
	return max(10*s.b.cfg.minIdle, time.Minute)
}

// reap deletes the group's consumers that own nothing and were not seen for
// idle (reapScript).
func (s *subscription) reap(idle time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), blockFor)
	defer cancel()
	return reapScript.Run(ctx, s.b.rdb, []string{s.b.cfg.stream}, s.group, idle.Milliseconds()).Err()
}

// claimDue runs claimScript over the whole PEL, handing out what it
// claims, as long as the prefetch has room.
func (s *subscription) claimDue() error {
	minIdle := s.b.cfg.minIdle.Milliseconds()
	cursor := "0-0"
	for {
		count := max(1, cap(s.msgs)-len(s.msgs))
		// A timeout per script run: handing out what one run claimed may
		// wait for the prefetch to make room.
		ctx, cancel := context.WithTimeout(context.Background(), blockFor)
		res, err := claimScript.Run(ctx, s.b.rdb, []string{s.b.cfg.stream, s.delayed},
			s.group, s.consumer, minIdle, count, cursor).Slice()
		cancel()
		if err != nil {
			return err
		}
		if len(res) != 2 {
			return fmt.Errorf("redisbus: claim: unexpected reply %v", res)
		}
		cursor, _ = res[0].(string)
		entries, _ := res[1].([]any)
		for _, raw := range entries {
			e, attempt, ok := claimed(raw)
			if !ok {
				return fmt.Errorf("redisbus: claim: unexpected entry %v", raw)
			}
			if !s.offer(e, attempt) {
				return nil
			}
		}
		if cursor == "0-0" || cursor == "" {
			return nil
		}
	}
}

// claimed parses one entry of claimScript's reply: {id, {field, value,
// ...}, delivery count}.
func claimed(raw any) (redis.XMessage, int, bool) {
	parts, ok := raw.([]any)
	if !ok || len(parts) != 3 {
		return redis.XMessage{}, 0, false
	}
	id, _ := parts[0].(string)
	fields, _ := parts[1].([]any)
	n, _ := parts[2].(int64)
	if id == "" || len(fields)%2 != 0 {
		return redis.XMessage{}, 0, false
	}
	values := make(map[string]any, len(fields)/2)
	for i := 0; i < len(fields); i += 2 {
		k, _ := fields[i].(string)
		values[k] = fields[i+1]
	}
	return redis.XMessage{ID: id, Values: values}, int(n), true
}

// offer hands entry e out as delivery number attempt, or acknowledges it at
// once when its type is not the pattern's, and terminates it (logged) when
// it cannot be decoded, since it would be redelivered for ever. It returns
// false once the subscription is closing: what it did not hand out stays
// pending and close releases it.
func (s *subscription) offer(e redis.XMessage, attempt int) bool {
	if !eventbus.Match(s.pattern, entryType(e.Values)) {
		s.queueAck(ackReq{id: e.ID})
		return true
	}
	msg, err := decode(e.ID, e.Values)
	if err != nil {
		s.b.cfg.logger.Error("redisbus: undecodable entry terminated", "stream", s.b.cfg.stream, "group", s.group, "entry", e.ID, "error", err)
		s.queueAck(ackReq{id: e.ID})
		return true
	}
	d := &delivery{s: s, id: e.ID, msg: msg, attempt: max(attempt, 1)}
	select {
	case s.msgs <- d:
		return true
	case <-s.done:
		return false
	}
}

// Next returns the next delivery.
func (s *subscription) Next(ctx context.Context) (eventbus.Delivery, error) {
	if s.closing() {
		return nil, fmt.Errorf("redisbus: next: %w", eventbus.ErrClosed)
	}
	select {
	case d := <-s.msgs:
		return d, nil
	case <-s.done:
		return nil, fmt.Errorf("redisbus: next: %w", eventbus.ErrClosed)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// nacked asks the claimer to look again once delay has passed.
func (s *subscription) nacked(delay time.Duration) {
	at := time.Now().Add(delay + time.Millisecond) // the server counts whole milliseconds
	s.mu.Lock()
	if s.due.IsZero() || at.Before(s.due) {
		s.due = at
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close stops reading, sends the queued acks and hands what the
// subscription read but did not settle back to its group, claimable at once
// by any instance.
func (s *subscription) Close() error {
	s.b.forget(s)
	s.close()
	return nil
}

func (s *subscription) close() {
	s.once.Do(func() {
		close(s.done)
		s.mu.Lock()
		id := s.readerID
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), blockFor)
		defer cancel()
		if id != 0 {
			_ = s.b.rdb.ClientUnblock(ctx, id).Err()
		}
		s.workers.Wait()
		s.ackMu.Lock()
		s.ackClosed = true
		s.ackMu.Unlock()
		close(s.ackStop)
		s.ackers.Wait()
		for len(s.msgs) > 0 {
			<-s.msgs // pending in the group: released below
		}
		err := releaseScript.Run(ctx, s.b.rdb, []string{s.b.cfg.stream},
			s.group, s.consumer, s.b.cfg.minIdle.Milliseconds(), heir).Err()
		if err != nil {
			s.b.cfg.logger.Warn("redisbus: handing unsettled entries back failed; they are claimed after the min idle",
				"group", s.group, "consumer", s.consumer, "error", err)
		}
	})
}
