package console

import (
	"context"
	"fmt"
	"time"
)

// Run reads every registered outbox's backlog and the dead letters waiting
// once every interval, so that
// the sparklines show its course between page views, until ctx is done;
// it returns ctx's error. Without Run the console reads only when a page
// is asked for. interval must be positive; a few seconds to a minute suits
// a sparkline of 60 readings.
func (c *Console) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("%w: run interval %v", ErrInvalidOption, interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			c.sample(ctx)
		}
	}
}

// sample takes one reading of everything the sparklines show.
func (c *Console) sample(ctx context.Context) {
	c.mu.Lock()
	outboxes := append([]*outboxSource(nil), c.outboxes...)
	dead := c.dead
	c.mu.Unlock()
	for _, s := range outboxes {
		s.read(ctx)
	}
	if dead != nil {
		// A failed reading leaves a gap in the sparkline; the page says why.
		_, _ = dead.read(ctx)
	}
}
