package eventbus

import (
	"context"
	"time"
)

// FetchBatch returns the next batch of sub's deliveries under
// BatchSubscription.NextBatch's contract: through sub's NextBatch when sub
// implements BatchSubscription, otherwise by calling Next until it holds
// max deliveries or wait has passed since the first. In that fallback a
// wait of zero or less returns the first delivery alone, since Next cannot
// say what is already at hand. Adapters without a batch fetch of their
// own may implement NextBatch with it.
func FetchBatch(ctx context.Context, sub Subscription, max int, wait time.Duration) ([]Delivery, error) {
	if bs, ok := sub.(BatchSubscription); ok {
		return bs.NextBatch(ctx, max, wait)
	}
	return gatherBatch(ctx, sub, max, wait)
}

// gatherBatch is FetchBatch's fallback. The window counts from the first
// delivery, not from the call, so that a quiet subscription does not
// shrink the batch that follows its first message.
func gatherBatch(ctx context.Context, sub Subscription, max int, wait time.Duration) ([]Delivery, error) {
	first, err := sub.Next(ctx)
	if err != nil {
		return nil, err
	}
	if max <= 1 || wait <= 0 {
		return []Delivery{first}, nil
	}
	batch := make([]Delivery, 1, max)
	batch[0] = first
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for len(batch) < max {
		d, err := sub.Next(wctx)
		if err != nil {
			// The window ended, ctx ended or the subscription closed: the
			// deliveries gathered are the caller's to settle either way,
			// and the next call reports a lasting error.
			break
		}
		batch = append(batch, d)
	}
	return batch, nil
}
