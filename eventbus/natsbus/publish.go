package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publish stores msgs in the stream and returns once JetStream acknowledged
// each. The messages are published asynchronously and awaited together; one
// that fails (a disconnect, a lost acknowledgement) is published again
// synchronously.
// Through disconnects and broker restarts it retries (the same Nats-Msg-Id,
// so a retry is never stored twice) until ctx ends.
//
// Messages that share a Subject are stored in their order even when one of
// them fails and is resent: the k-th message of each Subject is published
// only once the (k-1)-th of every Subject is stored (see eventbus.SubjectWaves).
// A batch whose Subjects are distinct or empty goes out all at once.
func (b *Bus) Publish(ctx context.Context, msgs ...*eventbus.Message) error {
	nms := make([]*nats.Msg, len(msgs))
	for i, m := range msgs {
		if err := m.Validate(); err != nil {
			return fmt.Errorf("natsbus: publish: %w", err)
		}
		nm, err := encode(b.cfg.prefix, m)
		if err != nil {
			return fmt.Errorf("natsbus: publish: %w", err)
		}
		nms[i] = nm
	}
	if b.isClosedNow() {
		return fmt.Errorf("natsbus: publish: %w", eventbus.ErrClosed)
	}
	waves := eventbus.SubjectWaves(msgs)
	if waves == nil {
		return b.publishWave(ctx, nms)
	}
	wave := make([]*nats.Msg, 0, len(nms))
	for _, idx := range waves {
		wave = wave[:0]
		for _, i := range idx {
			wave = append(wave, nms[i])
		}
		if err := b.publishWave(ctx, wave); err != nil {
			return err
		}
	}
	return nil
}

// publishWave publishes nms asynchronously, waits for their
// acknowledgements, and publishes the ones that failed again, in order.
func (b *Bus) publishWave(ctx context.Context, nms []*nats.Msg) error {
	pb := newPubBatch(len(nms))
	for i, nm := range nms {
		b.acks.add(nm, pb, i) // before publishing: the ack may come first
		if _, err := b.js.PublishMsgAsync(nm); err != nil {
			b.acks.forget(nm)
			pb.settle(i, ackFailed) // published synchronously below
		}
	}
	// One timer for the whole call bounds the wait: a message whose
	// acknowledgement was lost is published again synchronously
	// (deduplicated by its ID).
	timer := time.NewTimer(b.cfg.attemptTimeout)
	defer timer.Stop()
	select {
	case <-pb.done:
	case <-timer.C:
		b.acks.forget(nms...)
	case <-ctx.Done():
		b.acks.forget(nms...)
		return fmt.Errorf("natsbus: publish: %w", ctx.Err())
	}
	for i, nm := range nms {
		if pb.acked(i) {
			continue
		}
		if err := b.publishRetrying(ctx, nm); err != nil {
			return err
		}
	}
	return nil
}

// publishBackoff paces the retries of a publish: short, because most
// failures are a reconnect that takes a moment, and with full jitter, so
// that publishers that lost the server together do not retry together.
var publishBackoff = retry.Backoff{Initial: 50 * time.Millisecond, Max: time.Second}

func (b *Bus) publishRetrying(ctx context.Context, nm *nats.Msg) error {
	err := b.publishAttempt(ctx, nm)
	for attempt := 1; err != nil; attempt++ {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
		if ctx.Err() != nil || permanent(err) {
			return fmt.Errorf("natsbus: publish %s: %w", nm.Subject, err)
		}
		d := publishBackoff.Delay(attempt)
		b.cfg.logger.Debug("natsbus: publish failed, retrying", "subject", nm.Subject, "attempt", attempt, "in", d, "error", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("natsbus: publish %s: %w (last error: %w)", nm.Subject, ctx.Err(), err)
		case <-t.C:
		}
		err = b.publishAttempt(ctx, nm)
	}
	return nil
}

// permanent reports errors that retrying cannot fix.
func permanent(err error) bool {
	if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrMaxPayload) ||
		errors.Is(err, nats.ErrBadSubject) || errors.Is(err, nats.ErrInvalidMsg) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 400
}

// publishAttempt publishes once, within the attempt timeout.
func (b *Bus) publishAttempt(ctx context.Context, nm *nats.Msg) error {
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > b.cfg.attemptTimeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.attemptTimeout)
		defer cancel()
	}
	_, err := b.js.PublishMsg(ctx, nm)
	return err
}
