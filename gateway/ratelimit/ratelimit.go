package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrInvalidOption is wrapped by constructor errors caused by an invalid
// option or rate.
var ErrInvalidOption = errors.New("ratelimit: invalid option")

// Rate is a limit of Requests per Per, with bursts of up to Burst.
type Rate struct {
	// Requests is how many requests a key may make per Per; required.
	Requests int
	// Per is the window the limit is stated over, e.g. time.Minute;
	// required.
	Per time.Duration
	// Burst is how many requests may come at once; zero means Requests
	// (a client may spend a whole window's budget at once, then waits
	// Per/Requests for each further request).
	Burst int
}

// PerMinute is Rate{Requests: n, Per: time.Minute}.
func PerMinute(n int) Rate { return Rate{Requests: n, Per: time.Minute} }

// Validate reports whether the rate is usable; the error wraps
// ErrInvalidOption.
func (r Rate) Validate() error {
	if r.Requests <= 0 || r.Per <= 0 || r.Burst < 0 || r.Per/time.Duration(r.Requests) < time.Microsecond {
		return fmt.Errorf("%w: rate %d per %v burst %d", ErrInvalidOption, r.Requests, r.Per, r.Burst)
	}
	return nil
}

// Interval is the time one request's token takes to come back: Per /
// Requests.
func (r Rate) Interval() time.Duration { return r.Per / time.Duration(r.Requests) }

// BurstOrRequests is Burst, or Requests when Burst is zero.
func (r Rate) BurstOrRequests() int {
	if r.Burst > 0 {
		return r.Burst
	}
	return r.Requests
}

// Decision is a limiter's answer for one request.
type Decision struct {
	// Allowed says whether the request may go ahead.
	Allowed bool
	// Limit is the burst size: how many requests a fresh key may make.
	Limit int
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// ResetAfter is when the key's budget will be full again.
	ResetAfter time.Duration
	// RetryAfter is, for a denied request, when the next one will be
	// allowed; zero when Allowed.
	RetryAfter time.Duration
}

// Limiter decides whether a request of key may go ahead. It is the port
// between the middleware and the in-process (Local) or distributed
// (redislimit) limiters. Implementations are safe for concurrent use.
type Limiter interface {
	// Allow takes one request from key's budget if it has one. An error
	// means the limiter could not decide (e.g. its store is down).
	Allow(ctx context.Context, key string) (Decision, error)
}
