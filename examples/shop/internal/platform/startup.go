package platform

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
)

// attemptTimeout bounds one attempt of WaitFor, so that a request nobody
// answers (a leader that died mid-election) is sent again rather than
// waited on for the whole bound.
const attemptTimeout = 10 * time.Second

// DefaultStartupWait is how long a service waits at start-up for a broker,
// a stream or a registry that is not ready yet when Deps.StartupWait is zero.
const DefaultStartupWait = time.Minute

// startupBackoff paces WaitFor: 50 ms growing to 2 s, each wait between
// half and all of that, so that services started together do not all ask
// a recovering broker at the same instant.
var startupBackoff = retry.Backoff{Initial: 50 * time.Millisecond, Max: 2 * time.Second, Jitter: retry.EqualJitter}

// WaitFor runs try until it succeeds, and is how a service reaches what it
// depends on at start-up. A broker or a registry agent that is still
// starting, a JetStream cluster whose peers have not all joined ("no
// suitable peers for placement"), a stream whose leader is still being
// elected: each answers an error for a moment and then works, and a
// service that exited on the first error would turn a cluster's normal
// start into a crash. So WaitFor retries with exponential backoff
// (startupBackoff), logging what it waits for and why at each failure, for
// at most d.StartupWait (zero means DefaultStartupWait), then returns the
// last error. An error marked by retry.Permanent, or wrapping
// eventbus.ErrInvalidOption or discovery.ErrInvalidOption, is returned at
// once: waiting cannot fix it. try gets a context that ends with the
// attempt (at most 10 s) or the wait.
func (d *Deps) WaitFor(ctx context.Context, what string, try func(context.Context) error) error {
	bound := d.StartupWait
	if bound <= 0 {
		bound = DefaultStartupWait
	}
	wctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	start := time.Now()
	for attempt := 1; ; attempt++ {
		actx, cancelAttempt := context.WithTimeout(wctx, attemptTimeout)
		err := try(actx)
		cancelAttempt()
		switch {
		case err == nil:
			if attempt > 1 {
				d.Logger.Info(what+" ready", "attempts", attempt, "after", time.Since(start).Round(time.Millisecond))
			}
			return nil
		case invalid(err):
			return err
		}
		next := startupBackoff.Delay(attempt)
		d.Logger.Warn("waiting for "+what, "attempt", attempt, "error", err, "retry_in", next.Round(time.Millisecond))
		t := time.NewTimer(next)
		select {
		case <-wctx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return fmt.Errorf("platform: waiting for %s: %w", what, errors.Join(ctx.Err(), err))
			}
			return fmt.Errorf("platform: %s not ready after %v (%d attempts): %w", what, time.Since(start).Round(time.Millisecond), attempt, err)
		case <-t.C:
		}
	}
}

// invalid reports an error no wait fixes: a configuration error, or one
// marked permanent.
func invalid(err error) bool {
	return retry.IsPermanent(err) || errors.Is(err, eventbus.ErrInvalidOption) || errors.Is(err, discovery.ErrInvalidOption)
}
