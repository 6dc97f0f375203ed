package natsbus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Subscribe creates (or updates) the durable pull consumer of (group,
// pattern) and starts pulling from it.
//
// Messages are pulled with jetstream's Consume, whose callback queues each
// for Next and waits while the queue is full: at most the prefetch waits
// ahead of Next (three quarters requested from the server, a quarter in
// the queue), and what the server sends beyond it (status messages, the
// re-pull after a reconnect) waits in the subscription's pending list
// instead of being dropped. (jetstream's Messages iterator buffers into a
// channel of exactly the prefetch, which status messages and the re-pull
// after a reconnect overflow under a slow handler: the client then drops
// deliveries as a slow consumer, and they come back only after the ack
// wait.)
func (b *Bus) Subscribe(ctx context.Context, group, pattern string, opts ...eventbus.SubscribeOption) (eventbus.Subscription, error) {
	if err := eventbus.ValidateGroup(group); err != nil {
		return nil, fmt.Errorf("natsbus: subscribe: %w", err)
	}
	if err := eventbus.ValidatePattern(pattern); err != nil {
		return nil, fmt.Errorf("natsbus: subscribe: %w", err)
	}
	settings, err := eventbus.NewSubscribeSettings(opts...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe: %w", err)
	}
	if b.isClosedNow() {
		return nil, fmt.Errorf("natsbus: subscribe: %w", eventbus.ErrClosed)
	}
	prefetch := settings.Prefetch
	if prefetch == 0 {
		prefetch = b.cfg.prefetch
	}
	// A quarter of the prefetch waits in msgs, ready for Next without a
	// goroutine switch per message; the consume pulls the rest, in requests
	// as large as the prefetch allows (fewer requests, fewer stalls).
	s := &subscription{b: b, group: group, pattern: pattern, pull: prefetch - prefetch/4,
		msgs: make(chan jetstream.Msg, prefetch/4), ended: make(chan jetstream.ConsumeContext), done: make(chan struct{})}
	cc, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	s.cc = cc
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.isClosed {
		s.close()
		return nil, fmt.Errorf("natsbus: subscribe: %w", eventbus.ErrClosed)
	}
	b.subs[s] = struct{}{}
	return s, nil
}

// DurableName is the JetStream durable consumer name of a consumer group:
// the group, then a hash of the pattern, since patterns hold characters
// consumer names cannot.
func DurableName(group, pattern string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(pattern))
	return group + "_" + strconv.FormatUint(h.Sum64(), 36)
}

// subscription consumes one durable consumer. Its Consume callback (on
// nats.go's delivery goroutine for the subscription) hands messages to Next
// over msgs; a watcher goroutine per consume reports on ended when that
// consume stopped for good, and Next reopens it. close stops both.
type subscription struct {
	b        *Bus
	group    string
	pattern  string
	pull     int                           // messages the consume requests ahead
	msgs     chan jetstream.Msg            // holds the rest of the prefetch; the callback waits when it is full
	ended    chan jetstream.ConsumeContext // a consume that stopped
	done     chan struct{}                 // closed by close
	once     sync.Once
	watchers sync.WaitGroup

	mu     sync.Mutex
	cc     jetstream.ConsumeContext
	failed jetstream.ConsumeContext // a stopped consume left to replace when a Next call ended
	closed bool
}

// open creates (or updates) the group's durable consumer and starts
// consuming it.
func (s *subscription) open(ctx context.Context) (jetstream.ConsumeContext, error) {
	b := s.b
	cons, err := b.js.CreateOrUpdateConsumer(ctx, b.cfg.stream, jetstream.ConsumerConfig{
		Durable:       DurableName(s.group, s.pattern),
		Description:   s.group + " " + s.pattern,
		FilterSubject: b.cfg.prefix + "." + s.pattern,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.cfg.ackWait,
		MaxDeliver:    b.cfg.maxDeliver,
		MaxAckPending: b.cfg.maxAckPending,
		DeliverPolicy: b.cfg.deliverPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe %s %s: %w", s.group, s.pattern, err)
	}
	cc, err := cons.Consume(s.hand, jetstream.PullMaxMessages(s.pull), jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(s.consumeError))
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe %s %s: %w", s.group, s.pattern, err)
	}
	s.watchers.Go(func() {
		select {
		case <-cc.Closed():
		case <-s.done:
			return
		}
		select {
		case s.ended <- cc:
		case <-s.done:
		}
	})
	return cc, nil
}

// pullExpiry bounds each pull request the consume keeps open. A pull the
// server lost without the client seeing a disconnect is noticed only when
// two heartbeats (half the expiry each) are missed: with jetstream's default
// of 30 s a subscription could sit idle that long with messages waiting.
// 5 s bounds that stall; the price is one re-pull every 5 s per idle
// subscription, a few hundred bytes.
const pullExpiry = 5 * time.Second

// hand gives m to a Next call, or, once the subscription is closing, naks
// it so that another instance of the group gets it at once.
func (s *subscription) hand(m jetstream.Msg) {
	select {
	case s.msgs <- m: // the queue has room: the common case, a cheap select
		return
	default:
	}
	select {
	case s.msgs <- m:
	case <-s.done:
		_ = m.Nak()
	}
}

// consumeError ends a consume whose consumer may be gone (deleted by an
// operator, or lost with a broker that kept no state; no responders also
// while JetStream starts), so that Next recreates it. It drains rather than
// stops: what the consume holds is still handed out, not dropped unacked
// until the ack wait. Other errors (missed heartbeats, a reconnect) the
// consume recovers from itself.
func (s *subscription) consumeError(cc jetstream.ConsumeContext, err error) {
	if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, nats.ErrNoResponders) {
		cc.Drain()
		return
	}
	s.b.cfg.logger.Debug("natsbus: consume", "group", s.group, "pattern", s.pattern, "error", err)
}

// reopen replaces a consume that stopped with a new one on a recreated
// consumer, unless it was replaced already.
func (s *subscription) reopen(ctx context.Context, old jetstream.ConsumeContext) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventbus.ErrClosed
	}
	if s.cc != old {
		return nil
	}
	cc, err := s.open(ctx)
	if err != nil {
		return err
	}
	s.cc = cc
	s.b.cfg.logger.Warn("natsbus: consumer recreated", "group", s.group, "pattern", s.pattern)
	return nil
}

// recover replaces the stopped consume cc, retrying with backoff while the
// server refuses (JetStream still starting after a restart) until ctx ends
// or the subscription closes. If ctx ends first, the next call resumes.
func (s *subscription) recover(ctx context.Context, cc jetstream.ConsumeContext) error {
	pause := 50 * time.Millisecond
	for {
		if s.b.nc.IsClosed() {
			return fmt.Errorf("natsbus: next: %w", eventbus.ErrClosed)
		}
		err := s.reopen(ctx, cc)
		if err == nil {
			s.setFailed(nil)
			return nil
		}
		if errors.Is(err, eventbus.ErrClosed) {
			return fmt.Errorf("natsbus: next: %w", err)
		}
		s.b.cfg.logger.Warn("natsbus: recreating the consumer failed", "group", s.group, "pattern", s.pattern,
			"error", err, "retry_in", pause)
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			s.setFailed(cc)
			return ctx.Err()
		case <-s.done:
			t.Stop()
			return fmt.Errorf("natsbus: next: %w", eventbus.ErrClosed)
		}
		pause = min(2*pause, time.Second)
	}
}

func (s *subscription) setFailed(cc jetstream.ConsumeContext) {
	s.mu.Lock()
	s.failed = cc
	s.mu.Unlock()
}

// wait blocks for the next queued message, or replaces a consume that
// stopped (returning nil), until ctx ends or the subscription closes.
func (s *subscription) wait(ctx context.Context) (jetstream.Msg, error) {
	select {
	case m := <-s.msgs:
		return m, nil
	case cc := <-s.ended:
		return nil, s.recover(ctx, cc)
	case <-s.done:
		return nil, fmt.Errorf("natsbus: next: %w", eventbus.ErrClosed)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *subscription) Next(ctx context.Context) (eventbus.Delivery, error) {
	s.mu.Lock()
	failed := s.failed
	s.mu.Unlock()
	if failed != nil {
		if err := s.recover(ctx, failed); err != nil {
			return nil, err
		}
	}
	for {
		var m jetstream.Msg
		select {
		case m = <-s.msgs: // queued already: the common case under load, a cheap select
		default:
			m = nil
		}
		if m == nil {
			var err error
			if m, err = s.wait(ctx); err != nil {
				return nil, err
			}
			if m == nil {
				continue // a consume was replaced
			}
		}
		if d := s.delivery(m); d != nil {
			return d, nil
		}
	}
}

// delivery reads m into a delivery, or terminates it and returns nil when
// it cannot be read.
func (s *subscription) delivery(m jetstream.Msg) *delivery {
	attempt, fallbackID, ok := s.ackInfo(m)
	if !ok {
		s.b.cfg.logger.Error("natsbus: message without JetStream metadata, terminated", "subject", m.Subject())
		_ = m.Term()
		return nil
	}
	msg, err := decode(s.b.cfg.prefix, m.Subject(), m.Headers(), m.Data(), fallbackID)
	if err != nil {
		// A message this bus cannot read would loop forever: park it in
		// the stream by terminating its delivery, and say so.
		s.b.cfg.logger.Error("natsbus: undecodable message terminated", "subject", m.Subject(), "error", err)
		_ = m.TermWithReason(err.Error())
		return nil
	}
	return &delivery{m: m, msg: msg, attempt: attempt, confirm: s.b.cfg.confirmAcks}
}

// Close stops consuming and naks what was pulled but not handed out, so
// that another instance of the group gets it at once.
func (s *subscription) Close() error {
	s.b.forget(s)
	s.close()
	return nil
}

func (s *subscription) close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		cc := s.cc
		s.mu.Unlock()
		close(s.done) // from now on the callback naks
		cc.Drain()
		t := time.NewTimer(2 * time.Second)
		defer t.Stop()
		select {
		case <-cc.Closed():
		case <-t.C:
			cc.Stop()
		}
		s.watchers.Wait()
		for {
			select {
			case m := <-s.msgs:
				_ = m.Nak()
			default:
				return
			}
		}
	})
}
