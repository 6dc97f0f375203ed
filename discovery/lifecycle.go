package discovery

import (
	"context"
	"fmt"
)

// awaitClosed waits until done is closed or ctx ends, for the Close methods:
// goroutines that have already ended win over a context that has too, so
// that a Close with an expired context still reports a clean stop.
func awaitClosed(ctx context.Context, done <-chan struct{}, what string) error {
	select {
	case <-done:
		return nil
	default:
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("discovery: close %s: %w", what, ctx.Err())
	}
}
