package breaker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// DefaultMaxRetryAfter bounds how long a Retry-After header can keep a
// breaker open, so that a misconfigured server cannot switch a client off
// for a day.
const DefaultMaxRetryAfter = 5 * time.Minute

// StatusClassifier says how an HTTP exchange counts: resp is nil when err
// is not.
type StatusClassifier func(resp *http.Response, err error) Outcome

// DefaultStatusClassifier counts transport errors and 5xx responses as
// failures; 4xx are the client's own mistakes and count as successes, since
// the server answered. A cancelled request is ignored.
func DefaultStatusClassifier(resp *http.Response, err error) Outcome {
	if err != nil {
		return DefaultClassifier(err)
	}
	if resp.StatusCode >= 500 {
		return Failure
	}
	return Success
}

// Transport is an http.RoundTripper that sends each request through a
// circuit breaker: while the breaker is open, requests fail at once with an
// error matching [ErrOpen] instead of reaching the server. A 503 response's
// Retry-After header sets the open duration if that response opens the
// breaker; a Retry-After date is read against the response's Date header,
// or against time.Now when it has none. The time a request takes, for the
// slow-call rule, runs until the response headers arrive. A Transport is
// safe for concurrent use.
type Transport struct {
	base     http.RoundTripper
	pick     func(*http.Request) *Breaker
	classify StatusClassifier
	maxRetry time.Duration
}

// TransportOption configures a Transport.
type TransportOption func(*Transport) error

// WithStatusClassifier replaces [DefaultStatusClassifier] (what nil
// means), e.g. to count 429 Too Many Requests as a failure.
func WithStatusClassifier(c StatusClassifier) TransportOption {
	return func(t *Transport) error {
		if c == nil {
			c = DefaultStatusClassifier
		}
		t.classify = c
		return nil
	}
}

// WithMaxRetryAfter bounds the open duration a Retry-After header can set
// (default [DefaultMaxRetryAfter]); zero ignores Retry-After altogether.
func WithMaxRetryAfter(d time.Duration) TransportOption {
	return func(t *Transport) error {
		if d < 0 {
			return invalid("max retry-after %v < 0", d)
		}
		t.maxRetry = d
		return nil
	}
}

// NewTransport returns a Transport that sends every request through b and
// then base (http.DefaultTransport if nil).
func NewTransport(base http.RoundTripper, b *Breaker, opts ...TransportOption) (*Transport, error) {
	if b == nil {
		return nil, fmt.Errorf("breaker: new transport: %w: nil breaker", ErrInvalidOption)
	}
	return newTransport(base, func(*http.Request) *Breaker { return b }, opts)
}

// NewHostTransport returns a Transport with one breaker per host (the
// request URL's host:port) from s, so that one failing host does not cut
// the client off from the others.
func NewHostTransport(base http.RoundTripper, s *Set, opts ...TransportOption) (*Transport, error) {
	if s == nil {
		return nil, fmt.Errorf("breaker: new transport: %w: nil set", ErrInvalidOption)
	}
	return newTransport(base, func(r *http.Request) *Breaker { return s.Get(r.URL.Host) }, opts)
}

func newTransport(base http.RoundTripper, pick func(*http.Request) *Breaker, opts []TransportOption) (*Transport, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &Transport{
		base:     base,
		pick:     pick,
		classify: DefaultStatusClassifier,
		maxRetry: DefaultMaxRetryAfter,
	}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(t); err != nil {
			return nil, fmt.Errorf("breaker: new transport: %w", err)
		}
	}
	return t, nil
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	pm, err := t.pick(req).Acquire()
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper must close the body, even on errors
		}
		return nil, fmt.Errorf("breaker: %s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	ctx := req.Context()
	finished := false
	defer pm.failUnfinished(ctx, &finished)
	expiredAtStart := ended(ctx)
	resp, err := t.base.RoundTrip(req)
	finished = true
	o := t.classify(resp, err)
	if err != nil && (expiredAtStart || errors.Is(ctx.Err(), context.Canceled)) {
		// The caller walked away, or its time was spent before the server
		// saw the request: that says nothing about the server. A deadline
		// that passed in flight does count: the server did not answer.
		o = Ignored
	}
	var retryAfter time.Duration
	if o == Failure && resp != nil && resp.StatusCode == http.StatusServiceUnavailable && t.maxRetry > 0 {
		retryAfter = t.retryAfter(resp)
	}
	pm.Record(ctx, o, retryAfter)
	return resp, err
}

func (t *Transport) retryAfter(resp *http.Response) time.Duration {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	now := time.Now()
	if date, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		now = date
	}
	d, ok := parseRetryAfter(v, now)
	if !ok || d <= 0 {
		return 0
	}
	return min(d, t.maxRetry)
}
