package rabbitbus

import (
	"context"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

var _ eventbus.BatchSubscription = (*subscription)(nil)

// NextBatch hands over up to limit deliveries at once, under
// eventbus.BatchSubscription's contract. AMQP pushes deliveries up to the
// channel's prefetch (basic.qos), which a Router asks to be a batch per
// worker: NextBatch takes the first delivery as Next does, then drains
// what the broker pushed, waiting at most wait for the rest. A batch can
// never exceed the prefetch, since the broker sends no more until some
// are settled.
func (s *subscription) NextBatch(ctx context.Context, limit int, wait time.Duration) ([]eventbus.Delivery, error) {
	first, err := s.Next(ctx)
	if err != nil {
		return nil, err
	}
	limit = max(limit, 1)
	batch := make([]eventbus.Delivery, 1, min(limit, s.prefetch))
	batch[0] = first
	if wait <= 0 {
		// What the pump holds ready, without waiting for the broker.
		for len(batch) < limit {
			select {
			case d := <-s.out:
				batch = append(batch, d)
				continue
			default:
			}
			break
		}
		return batch, nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(batch) < limit {
		select {
		case d := <-s.out:
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
