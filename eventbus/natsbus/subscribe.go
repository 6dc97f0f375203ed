package natsbus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/nats-io/nats.go/jetstream"
)

// Subscribe creates (or updates) the durable pull consumer of (group,
// pattern) and starts pulling from it.
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
	s := &subscription{b: b, group: group, pattern: pattern, prefetch: prefetch}
	iter, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	s.iter = iter
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.isClosed {
		iter.Stop()
		return nil, fmt.Errorf("natsbus: subscribe: %w", eventbus.ErrClosed)
	}
	b.subs[s] = struct{}{}
	return s, nil
}

// open creates (or updates) the group's durable consumer and starts pulling.
func (s *subscription) open(ctx context.Context) (jetstream.MessagesContext, error) {
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
	iter, err := cons.Messages(jetstream.PullMaxMessages(s.prefetch))
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe %s %s: %w", s.group, s.pattern, err)
	}
	return iter, nil
}

// reopen replaces a pull that the server ended (its consumer was deleted,
// or lost with a broker that kept no state) with a new one on a recreated
// consumer, unless another worker already did.
func (s *subscription) reopen(ctx context.Context, old jetstream.MessagesContext) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventbus.ErrClosed
	}
	if s.iter != old {
		return nil
	}
	iter, err := s.open(ctx)
	if err != nil {
		return err
	}
	old.Stop()
	s.iter = iter
	s.b.cfg.logger.Warn("natsbus: consumer recreated", "group", s.group, "pattern", s.pattern)
	return nil
}

func (s *subscription) current() (jetstream.MessagesContext, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.iter, s.closed
}

// DurableName is the JetStream durable consumer name of a consumer group:
// the group, then a hash of the pattern, since patterns hold characters
// consumer names cannot.
func DurableName(group, pattern string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(pattern))
	return group + "_" + strconv.FormatUint(h.Sum64(), 36)
}

type subscription struct {
	b        *Bus
	group    string
	pattern  string
	prefetch int
	once     sync.Once

	mu     sync.Mutex
	iter   jetstream.MessagesContext
	closed bool
}

func (s *subscription) Next(ctx context.Context) (eventbus.Delivery, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		iter, closed := s.current()
		if closed {
			return nil, fmt.Errorf("natsbus: next: %w", eventbus.ErrClosed)
		}
		m, err := iter.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if _, closed := s.current(); closed || s.b.nc.IsClosed() {
				return nil, fmt.Errorf("natsbus: next: %w", eventbus.ErrClosed)
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
				errors.Is(err, jetstream.ErrConsumerNotFound) {
				if rerr := s.reopen(ctx, iter); rerr != nil {
					return nil, fmt.Errorf("natsbus: next: %w (reopening after: %w)", rerr, err)
				}
				continue
			}
			return nil, fmt.Errorf("natsbus: next: %w", err)
		}
		attempt, fallbackID, ok := s.ackInfo(m)
		if !ok {
			s.b.cfg.logger.Error("natsbus: message without JetStream metadata, terminated", "subject", m.Subject())
			_ = m.Term()
			continue
		}
		msg, err := decode(s.b.cfg.prefix, m.Subject(), m.Headers(), m.Data(), fallbackID)
		if err != nil {
			// A message this bus cannot read would loop forever: park it in
			// the stream by terminating its delivery, and say so.
			s.b.cfg.logger.Error("natsbus: undecodable message terminated", "subject", m.Subject(), "error", err)
			_ = m.TermWithReason(err.Error())
			continue
		}
		return &delivery{m: m, msg: msg, attempt: attempt, confirm: s.b.cfg.confirmAcks}, nil
	}
}

// ackInfo returns the delivery count of m and, for a message without
// Nats-Msg-Id (a foreign producer), an ID made of its stream and sequence.
// The count is read from the reply subject without allocating
// (jetstream.Msg.Metadata allocates per message, and consuming is a hot
// path); the documented parser is the fallback.
func (s *subscription) ackInfo(m jetstream.Msg) (attempt int, fallbackID string, ok bool) {
	needID := m.Headers().Get(jetstream.MsgIDHeader) == ""
	if n, ok := numDelivered(m.Reply()); ok && !needID {
		return n, "", true
	}
	md, err := m.Metadata()
	if err != nil {
		return 0, "", false
	}
	if needID {
		fallbackID = md.Stream + "-" + strconv.FormatUint(md.Sequence.Stream, 10)
	}
	return int(md.NumDelivered), fallbackID, true
}

// numDelivered parses the delivery count from a JetStream ack subject:
// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending> (9
// tokens), or with <domain>.<account hash> after ACK and a trailing token
// (11 or more).
func numDelivered(reply string) (int, bool) {
	rest, ok := strings.CutPrefix(reply, "$JS.ACK.")
	if !ok {
		return 0, false
	}
	var pos int
	switch tokens := strings.Count(rest, ".") + 3; {
	case tokens == 9:
		pos = 2
	case tokens >= 11:
		pos = 4
	default:
		return 0, false
	}
	for range pos {
		_, rest, _ = strings.Cut(rest, ".")
	}
	tok, _, _ := strings.Cut(rest, ".")
	n, err := strconv.Atoi(tok)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}

// Close drains the subscription and naks what it fetched but did not hand
// out, so that another instance of the group gets it at once.
func (s *subscription) Close() error {
	s.b.forget(s)
	s.close()
	return nil
}

func (s *subscription) close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		iter := s.iter
		s.mu.Unlock()
		iter.Drain()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for {
			m, err := iter.Next(jetstream.NextContext(ctx))
			if err != nil {
				if ctx.Err() != nil {
					iter.Stop()
				}
				return
			}
			_ = m.Nak()
		}
	})
}

// delivery is one JetStream delivery.
type delivery struct {
	m       jetstream.Msg
	msg     *eventbus.Message
	attempt int
	confirm bool
	settled atomic.Bool // settled once; the server would reject a second ack anyway, silently
}

func (d *delivery) Message() *eventbus.Message { return d.msg }

func (d *delivery) Attempt() int { return d.attempt }

func (d *delivery) Ack(ctx context.Context) error {
	if !d.settled.CompareAndSwap(false, true) {
		return eventbus.ErrStaleDelivery
	}
	var err error
	if d.confirm {
		err = d.m.DoubleAck(ctx)
	} else {
		err = d.m.Ack()
	}
	return wrap("ack", err)
}

func (d *delivery) Nack(_ context.Context, delay time.Duration) error {
	if !d.settled.CompareAndSwap(false, true) {
		return eventbus.ErrStaleDelivery
	}
	if delay > 0 {
		return wrap("nak", d.m.NakWithDelay(delay))
	}
	return wrap("nak", d.m.Nak())
}

func (d *delivery) Term(context.Context) error {
	if !d.settled.CompareAndSwap(false, true) {
		return eventbus.ErrStaleDelivery
	}
	return wrap("term", d.m.Term())
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("natsbus: %s: %w", op, err)
}
