package discovery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// WatchLoop follows one service's Watch on a registry and hands each
// complete set to Update, backing off after failures. It is the loop
// behind [Resolver] and package discovery/grpcresolver, for anyone who
// feeds instances to a client of their own: a failed Watch or Next, or an
// Update that returns an error, is reported to Failed and tried again
// after Backoff.Delay(n) for the n-th failure in a row; a success starts
// the count over. A watcher that reports [ErrClosed] is closed and
// replaced by a new Watch.
type WatchLoop struct {
	// Instancer is the registry to watch; required.
	Instancer Instancer
	// Service is the name of the service to follow; required.
	Service string
	// Backoff paces the calls after failures; its zero value is
	// retry.Backoff's (100ms doubling to 10s, full jitter).
	Backoff retry.Backoff
	// Update takes each complete set the watcher yields; an error counts
	// as a failure. Required.
	Update func(set []Instance) error
	// Failed hears each failure before the wait; nil means no one does.
	Failed func(err error)
}

// Run follows the watch until ctx ends, then closes its watcher and
// returns nil. It returns an error wrapping [ErrInvalidOption] at once when
// the loop lacks its Instancer, Service or Update, or its Backoff is
// invalid.
func (l WatchLoop) Run(ctx context.Context) error {
	switch {
	case l.Instancer == nil || l.Service == "" || l.Update == nil:
		return fmt.Errorf("discovery: watch loop: %w: need an Instancer, a Service and an Update", ErrInvalidOption)
	case l.Backoff.Validate() != nil:
		return fmt.Errorf("discovery: watch loop: %w: %w", ErrInvalidOption, l.Backoff.Validate())
	}
	var w Watcher
	defer func() {
		if w != nil {
			_ = w.Close()
		}
	}()
	failures := 0
	for ctx.Err() == nil {
		var (
			set []Instance
			err error
		)
		if w == nil {
			w, err = l.Instancer.Watch(ctx, l.Service)
		}
		if err == nil {
			set, err = w.Next(ctx)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			if err = l.Update(set); err == nil {
				failures = 0
				continue
			}
		} else if errors.Is(err, ErrClosed) && w != nil {
			_ = w.Close()
			w = nil
		}
		failures++
		if l.Failed != nil {
			l.Failed(err)
		}
		t := time.NewTimer(l.Backoff.Delay(failures))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	return nil
}
