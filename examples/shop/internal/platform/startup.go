package platform

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/eventbus"
)

// attemptTimeout bounds one attempt of WaitFor, so that a request nobody
// answers (a leader that died mid-election) is sent again rather than
// waited on for the whole bound.
const attemptTimeout = 10 * time.Second

// DefaultStartupWait is how long a service waits at start-up for a broker,
// a stream or a registry that is not ready yet when Deps.StartupWait is zero.
const DefaultStartupWait = time.Minute

// WaitFor runs try until it succeeds, and is how a service reaches what it
// depends on at start-up. A broker or a registry agent that is still
// starting, a JetStream
// cluster whose peers have not all joined ("no suitable peers for
// placement"), a stream whose leader is still being elected: each answers
// an error for a moment and then works, and a service that exited on the
// first error would turn a cluster's normal start into a crash. So WaitFor
// retries with exponential backoff (50 ms growing to 2 s), logging what it
// waits for and why at each failure, for at most d.StartupWait (zero means
// DefaultStartupWait), then returns the last error. An error wrapping
// eventbus.ErrInvalidOption or discovery.ErrInvalidOption is returned at
// once: waiting cannot fix a wrong configuration. try gets a context that ends with the attempt (at
// most 10 s) or the wait.
func (d *Deps) WaitFor(ctx context.Context, what string, try func(context.Context) error) error {
	bound := d.StartupWait
	if bound <= 0 {
		bound = DefaultStartupWait
	}
	wctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	policy := backoff.NewExponentialBackOff()
	policy.InitialInterval = 50 * time.Millisecond
	policy.MaxInterval = 2 * time.Second
	policy.MaxElapsedTime = 0 // wctx bounds the wait
	start := time.Now()
	attempts := 0
	var last error
	err := backoff.RetryNotify(func() error {
		attempts++
		actx, cancel := context.WithTimeout(wctx, attemptTimeout)
		defer cancel()
		err := try(actx)
		if err == nil {
			return nil
		}
		last = err
		if invalid(err) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(policy, wctx), func(err error, next time.Duration) {
		d.Logger.Warn("waiting for "+what, "attempt", attempts, "error", err, "retry_in", next.Round(time.Millisecond))
	})
	if err == nil {
		if attempts > 1 {
			d.Logger.Info(what+" ready", "attempts", attempts, "after", time.Since(start).Round(time.Millisecond))
		}
		return nil
	}
	if last == nil {
		last = err
	}
	if invalid(last) {
		return last
	}
	if ctx.Err() != nil {
		return fmt.Errorf("platform: waiting for %s: %w", what, errors.Join(ctx.Err(), last))
	}
	return fmt.Errorf("platform: %s not ready after %v (%d attempts): %w", what, time.Since(start).Round(time.Millisecond), attempts, last)
}

// invalid reports a configuration error, which no wait fixes.
func invalid(err error) bool {
	return errors.Is(err, eventbus.ErrInvalidOption) || errors.Is(err, discovery.ErrInvalidOption)
}
