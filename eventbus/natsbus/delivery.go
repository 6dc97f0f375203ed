package natsbus

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/nats-io/nats.go/jetstream"
)

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
