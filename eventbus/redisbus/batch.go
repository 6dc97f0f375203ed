package redisbus

import (
	"context"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

var _ eventbus.BatchSubscription = (*subscription)(nil)

// NextBatch hands over up to limit deliveries at once, under
// eventbus.BatchSubscription's contract. The subscription's reader already
// fetches in batches: each XREADGROUP asks for COUNT as many entries as
// the prefetch has room for (a Router asks for a prefetch of a batch per
// worker), and queues them. NextBatch takes the first delivery as Next
// does, then drains what the reader has queued and what it queues within
// wait. An XREADGROUP of its own would compete with the reader for the
// same entries and add a round trip per batch.
func (s *subscription) NextBatch(ctx context.Context, limit int, wait time.Duration) ([]eventbus.Delivery, error) {
	first, err := s.Next(ctx)
	if err != nil {
		return nil, err
	}
	limit = max(limit, 1)
	batch := make([]eventbus.Delivery, 1, min(limit, cap(s.msgs)+1))
	batch[0] = first
	// What is queued already: no timer for a batch the queue fills.
	for len(batch) < limit {
		select {
		case d := <-s.msgs:
			batch = append(batch, d)
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
		case d := <-s.msgs:
			batch = append(batch, d)
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
