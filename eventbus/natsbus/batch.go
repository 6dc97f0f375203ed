package natsbus

import (
	"context"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

var _ eventbus.BatchSubscription = (*subscription)(nil)

// NextBatch hands over up to limit deliveries at once, under
// eventbus.BatchSubscription's contract. The subscription's consume
// already pulls from JetStream in batches (requests of three quarters of
// the prefetch, which a Router asks to be a batch per worker): NextBatch
// takes the first delivery as Next does, then drains what the consume has
// queued and what it queues within wait. A separate jetstream Fetch of n
// would compete with that consume for the same messages and add a round
// trip per batch.
func (s *subscription) NextBatch(ctx context.Context, limit int, wait time.Duration) ([]eventbus.Delivery, error) {
	first, err := s.Next(ctx)
	if err != nil {
		return nil, err
	}
	limit = max(limit, 1)
	batch := make([]eventbus.Delivery, 1, min(limit, s.pull+cap(s.msgs)))
	batch[0] = first
	// What is queued already: no timer for a batch the queue fills.
	for len(batch) < limit {
		select {
		case m := <-s.msgs:
			if d := s.delivery(m); d != nil {
				batch = append(batch, d)
			}
			continue
		default:
		}
		break
	}
	if len(batch) == limit || wait <= 0 {
		return batch, nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(batch) < limit {
		select {
		case m := <-s.msgs:
			if d := s.delivery(m); d != nil {
				batch = append(batch, d)
			}
		case <-timer.C:
			return batch, nil
		case <-ctx.Done():
			return batch, nil
		case <-s.done:
			return batch, nil
		}
	}
	return batch, nil
}
