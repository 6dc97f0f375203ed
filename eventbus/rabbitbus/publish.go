package rabbitbus

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-microkit/microkit/eventbus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Publish sends msgs to the exchange as persistent messages routed by
// their type and returns once the broker confirmed every one. Messages the
// broker did not confirm (the connection was lost, the broker restarted,
// or it nacked them) are sent again on the next connection until ctx ends;
// a message may thus reach the queues twice, and consumers deduplicate on
// its ID.
//
// Messages that share a Subject reach the queues in their order even when
// one of them is nacked and resent: the k-th message of each Subject is
// sent only once the (k-1)-th of every Subject is confirmed (see
// eventbus.SubjectWaves). A batch whose Subjects are distinct or empty goes
// out all at once.
func (b *Bus) Publish(ctx context.Context, msgs ...*eventbus.Message) error {
	for _, m := range msgs {
		if err := m.Validate(); err != nil {
			return fmt.Errorf("rabbitbus: publish: %w", err)
		}
	}
	pending := make([]amqp.Publishing, len(msgs))
	keys := make([]string, len(msgs))
	for i, m := range msgs {
		p, err := b.encode(m, 1)
		if err != nil {
			return fmt.Errorf("rabbitbus: publish: %w", err)
		}
		pending[i] = p
		keys[i] = m.Type
	}
	waves := eventbus.SubjectWaves(msgs)
	if waves == nil {
		return b.publish(ctx, b.cfg.exchange, keys, pending)
	}
	for _, idx := range waves {
		wp, wk := make([]amqp.Publishing, len(idx)), make([]string, len(idx))
		for j, i := range idx {
			wp[j], wk[j] = pending[i], keys[i]
		}
		if err := b.publish(ctx, b.cfg.exchange, wk, wp); err != nil {
			return err
		}
	}
	return nil
}

// publish sends pending to exchange with routing keys keys, confirmed,
// retrying the unconfirmed ones across reconnects.
func (b *Bus) publish(ctx context.Context, exchange string, keys []string, pending []amqp.Publishing) error {
	for attempt := 1; len(pending) > 0; attempt++ {
		ch, err := b.publishChannel(ctx)
		if err != nil {
			return fmt.Errorf("rabbitbus: publish: %w", err)
		}
		confirms := make([]*amqp.DeferredConfirmation, len(pending))
		var sendErr error
		for i := range pending {
			confirms[i], sendErr = ch.PublishWithDeferredConfirm(exchange, keys[i], false, false, pending[i])
			if sendErr != nil {
				break
			}
		}
		// Keep what was not confirmed, in order.
		var (
			restP []amqp.Publishing
			restK []string
		)
		for i, dc := range confirms {
			ok := false
			if dc != nil {
				var werr error
				ok, werr = dc.WaitContext(ctx)
				if werr != nil {
					return fmt.Errorf("rabbitbus: publish: waiting for confirms: %w", werr)
				}
			}
			if !ok {
				restP, restK = append(restP, pending[i]), append(restK, keys[i])
			}
		}
		if len(restP) == 0 {
			return nil
		}
		if sendErr != nil && !errors.Is(sendErr, amqp.ErrClosed) {
			b.dropPublishChannel(ch)
			return fmt.Errorf("rabbitbus: publish: %w", sendErr)
		}
		b.dropPublishChannel(ch)
		b.cfg.logger.Debug("rabbitbus: publish not confirmed, resending", "messages", len(restP), "error", sendErr)
		pending, keys = restP, restK
		if !b.sleep(ctx, b.cfg.backoff.Delay(attempt)) {
			if ctx.Err() != nil {
				return fmt.Errorf("rabbitbus: publish: %d messages unconfirmed: %w", len(pending), ctx.Err())
			}
			return fmt.Errorf("rabbitbus: publish: %w", eventbus.ErrClosed)
		}
	}
	return nil
}

// publishChannel returns the shared confirm-mode channel, opening it on
// the current connection if needed.
func (b *Bus) publishChannel(ctx context.Context) (*amqp.Channel, error) {
	b.mu.Lock()
	if ch := b.pub; ch != nil && !ch.IsClosed() {
		b.mu.Unlock()
		return ch, nil
	}
	b.mu.Unlock()
	ch, _, err := b.channel(ctx)
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pub != nil && !b.pub.IsClosed() {
		// Another publisher opened one meanwhile: share it.
		_ = ch.Close()
		return b.pub, nil
	}
	if b.isClosed {
		_ = ch.Close()
		return nil, eventbus.ErrClosed
	}
	b.pub = ch
	return ch, nil
}

func (b *Bus) dropPublishChannel(ch *amqp.Channel) {
	b.mu.Lock()
	if b.pub == ch {
		b.pub = nil
	}
	b.mu.Unlock()
	_ = ch.Close()
}
