package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// Breakers guards the upstreams of a route with one circuit breaker per
// upstream host. It is the port to a breaker implementation;
// [BreakerSet] adapts a breaker.Set from package breaker to it.
// Implementations are safe for concurrent use.
type Breakers interface {
	// Allow asks the breaker of upstream ("host:port") whether a call may
	// go ahead. If it may, the gateway calls done exactly once with the
	// call's outcome: nil for success, or an error (a transport error, or
	// an *UpstreamStatusError for a 5xx answer); an error matching
	// context.Canceled (the client went away) says nothing about the
	// upstream and must not count. If it may not, err wraps
	// ErrUpstreamUnavailable and the gateway answers 503 without calling
	// the upstream.
	Allow(upstream string) (done func(err error), err error)
}

// UpstreamStatusError reports an upstream's error status: a 5xx answer to
// a Target's or a breaker's done func (the answer itself is still passed to
// the client), and any non-2xx answer to a GetJSON fetch.
type UpstreamStatusError struct {
	// Upstream is the upstream's "host:port".
	Upstream string
	// StatusCode is the upstream's status.
	StatusCode int
}

// Error implements error.
func (e *UpstreamStatusError) Error() string {
	return fmt.Sprintf("gateway: upstream %s answered %d", e.Upstream, e.StatusCode)
}

// errNotSent tells a Target's done func that the attempt was not sent (its
// breaker refused it). It matches context.Canceled, which breakers and
// outlier ejection ignore.
var errNotSent = fmt.Errorf("gateway: attempt not sent: %w", context.Canceled)

// routeTransport picks the upstream for every attempt, consults the
// breaker, and retries within the route's policy and budget.
type routeTransport struct {
	route  *compiledRoute
	base   http.RoundTripper
	budget *retry.Budget
	wait   func(ctx context.Context, d time.Duration) error
}

func (t *routeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := t.route
	canRetry := rt.Retry.Retries() && retry.Idempotent(req) && retry.Replayable(req)
	if canRetry {
		t.budget.Deposit()
	}
	path := req.URL.Path
	start := time.Now()
	for attempt := 1; ; attempt++ {
		resp, err := t.try(req, path)
		if !canRetry || !t.retryable(req, resp, err) {
			return resp, err
		}
		d, ok := rt.Retry.Next(attempt, time.Since(start))
		if !ok || !t.budget.Withdraw() {
			return resp, err
		}
		if resp != nil {
			// Drain a little so that the connection can be reused.
			_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
			resp.Body.Close()
		}
		if werr := t.wait(req.Context(), d); werr != nil {
			return nil, werr
		}
		if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
			// The last attempt consumed the body; Replayable promised a
			// fresh one.
			body, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("gateway: replay request body: %w", err)
			}
			req.Body = body
		}
	}
}

// retryable reports whether an attempt that returned resp and err may be
// tried again: only a failure of the upstream (attemptOutcome), never the
// client's fault or cancellation, and a status only when the policy lists
// it.
func (t *routeTransport) retryable(req *http.Request, resp *http.Response, err error) bool {
	if req.Context().Err() != nil {
		return false
	}
	if err != nil {
		return countsAgainstUpstream(attemptOutcome("", nil, nil, err))
	}
	return t.route.retriesStatus(resp.StatusCode)
}

// try sends one attempt to an upstream picked for it. It sets the URL of
// req in place rather than cloning it: req is the proxy's own outbound
// copy, and an attempt is retried only after the previous response body
// was closed.
func (t *routeTransport) try(req *http.Request, path string) (*http.Response, error) {
	ctx := req.Context()
	base, done, err := t.route.Target.Pick(ctx)
	if err != nil {
		return nil, err
	}
	var bdone func(error)
	if t.route.Breakers != nil {
		bdone, err = t.route.Breakers.Allow(base.Host)
		if err != nil {
			done(errNotSent) // no call, no news about the instance
			return nil, err
		}
	}
	req.URL.Scheme = base.Scheme
	req.URL.Host = base.Host
	req.URL.Path = path
	if base.Path != "" && base.Path != "/" {
		req.URL.Path = strings.TrimSuffix(base.Path, "/") + path
	}
	req.URL.RawPath = ""
	if !t.route.PreserveHost {
		req.Host = ""
	}
	resp, err := t.base.RoundTrip(req)
	// The proxy hides the body behind wrappers of its own; the route's
	// guard left it in the match.
	var body *clientBody
	if m, ok := ctx.Value(matchKey).(*match); ok {
		body = m.body
	}
	outcome := attemptOutcome(base.Host, body, resp, err)
	// The client's fault or cancellation matches context.Canceled, which
	// says nothing about the upstream: breakers and outlier ejection
	// ignore it.
	done(outcome)
	if bdone != nil {
		bdone(outcome)
	}
	if fault := asClientError(outcome); fault != nil {
		// The upstream may have answered a truncated body; the client
		// gets the status of its own fault instead.
		if resp != nil {
			resp.Body.Close()
		}
		return nil, fault
	}
	return resp, err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
