package discovery

import (
	"context"
	"errors"
	"fmt"
	"github.com/go-microkit/microkit/internal/httppool"
	"io"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/go-microkit/microkit/retry"
)

// Transport is an http.RoundTripper that sends each request to an instance
// of the service named by the URL's host: a request for
// http://product-service/products/1 goes to whichever instance of
// "product-service" the resolver's balancer picks. It records each outcome
// for outlier ejection, and retries a failed request on another instance
// while the retry budget allows: a request that is [retry.Idempotent] and
// [retry.Replayable], or a replayable one that never reached the instance.
// A successful request counts as in flight on its instance until its
// response body is read to the end or closed: close every body, or its
// instance keeps looking busy to LeastRequest. The request reaches the
// instance with its URL's host, and so its Host header, set to the
// instance's "host:port"; give every URL a service name, since any host is
// resolved as one. Transport is safe for concurrent use.
type Transport struct {
	resolver    *Resolver
	base        http.RoundTripper
	maxAttempts int
	budget      *retry.Budget
	isFailure   func(*http.Response, error) bool
}

// TransportOption configures a Transport.
type TransportOption func(*Transport) error

// defaultBase is the RoundTripper of every Transport not given one: like
// http.DefaultTransport, shared, but keeping up to 256 idle connections per
// instance instead of 2. With 2, a service with more than two calls in
// flight to one instance closed most connections as the calls finished and
// dialled new ones for the next calls.
var defaultBase http.RoundTripper = httppool.NewTransport()

// WithBaseTransport sets the RoundTripper that sends to the chosen
// instance. The default (and what nil means) is a shared transport like
// http.DefaultTransport that keeps up to 256 idle connections per instance
// (http.DefaultTransport keeps 2, and churns connections under load).
func WithBaseTransport(rt http.RoundTripper) TransportOption {
	return func(t *Transport) error {
		if rt == nil {
			rt = defaultBase
		}
		t.base = rt
		return nil
	}
}

// WithMaxAttempts sets how many instances one request may try, the first
// included; 1 disables retries. Zero means 3.
func WithMaxAttempts(n int) TransportOption {
	return func(t *Transport) error {
		if n < 0 {
			return fmt.Errorf("%w: negative max attempts %d", ErrInvalidOption, n)
		}
		if n > 0 {
			t.maxAttempts = n
		}
		return nil
	}
}

// WithRetryBudget sets the budget retries draw from. Share one budget among
// the clients of a service so that together they cannot bury it. The
// default (and what nil means) is a budget of retry.BudgetPolicy's defaults
// (20% of requests plus 10 retries a second) per Transport.
func WithRetryBudget(b *retry.Budget) TransportOption {
	return func(t *Transport) error {
		t.budget = b
		return nil
	}
}

// WithFailureClassifier sets what counts as a failure of the instance, for
// outlier ejection and retries. The default (and what nil means),
// [DefaultIsFailure], counts transport errors and 5xx responses.
func WithFailureClassifier(isFailure func(*http.Response, error) bool) TransportOption {
	return func(t *Transport) error {
		if isFailure == nil {
			isFailure = DefaultIsFailure
		}
		t.isFailure = isFailure
		return nil
	}
}

// DefaultIsFailure counts a transport error (except one matching
// context.Canceled: the caller's own cancellation, or a client's fault
// such as a gateway.ClientError for a broken request body) or a 5xx status
// as a failure of the instance.
func DefaultIsFailure(resp *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled)
	}
	return resp.StatusCode >= 500
}

// NewTransport returns a Transport that resolves through r.
func NewTransport(r *Resolver, opts ...TransportOption) (*Transport, error) {
	if r == nil {
		return nil, fmt.Errorf("discovery: new transport: %w: nil resolver", ErrInvalidOption)
	}
	t := &Transport{resolver: r, base: defaultBase, maxAttempts: 3, isFailure: DefaultIsFailure}
	for _, opt := range opts {
		if opt == nil {
			continue // a nil Option is no option
		}
		if err := opt(t); err != nil {
			return nil, fmt.Errorf("discovery: new transport: %w", err)
		}
	}
	if t.budget == nil {
		b, err := retry.NewBudget(retry.BudgetPolicy{})
		if err != nil {
			return nil, fmt.Errorf("discovery: new transport: %w", err)
		}
		t.budget = b
	}
	return t, nil
}

var errInstanceFailed = errors.New("discovery: instance failed the request")

// errNoNews is the outcome of a request whose error says nothing about the
// instance; as a context.Canceled it is ignored by the outlier breaker.
var errNoNews = fmt.Errorf("discovery: outcome not counted: %w", context.Canceled)

// RoundTrip resolves req.URL's host as a service name and sends req to one
// of its instances, retrying on another as described on Transport.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	service := req.URL.Hostname()
	replayable := retry.Replayable(req)
	idempotent := replayable && retry.Idempotent(req)
	t.budget.Deposit()
	var prev *Endpoint
	for attempt := 1; ; attempt++ {
		ep, err := t.resolver.pick(ctx, service, prev)
		if err != nil {
			closeBody(req)
			return nil, fmt.Errorf("discovery: %s %s: %w", req.Method, req.URL.Redacted(), err)
		}
		out, err := t.outgoing(req, ep, attempt)
		if err != nil {
			ep.Done(nil)
			return nil, err
		}
		resp, err := t.base.RoundTrip(out)
		failed := t.isFailure(resp, err)
		if !failed && err != nil {
			// An error that is not the instance's failure (the caller's
			// cancellation, the client's fault) is no news either way.
			ep.Done(errNoNews)
			return nil, err
		}
		if !failed {
			return finishWithBody(resp, ep), nil
		}
		ep.Done(errInstanceFailed)
		retryable := idempotent || (replayable && neverSent(err))
		if attempt >= t.maxAttempts || !retryable || ctx.Err() != nil || !t.budget.Withdraw() {
			if err != nil {
				return nil, fmt.Errorf("discovery: %s %s via %s: %w", req.Method, req.URL.Redacted(), ep.addr, err)
			}
			return resp, nil
		}
		if resp != nil {
			// Drain a little so the connection can be reused.
			_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
			_ = resp.Body.Close()
		}
		t.resolver.emit(ctx, Event{Kind: EventRetried, Service: service, Instance: ep.instance.ID})
		prev = ep
	}
}

// outgoing returns the request for one attempt, addressed to ep.
func (t *Transport) outgoing(req *http.Request, ep *Endpoint, attempt int) (*http.Request, error) {
	out := req.Clone(req.Context())
	out.URL.Host = ep.addr
	out.Host = ""
	if attempt > 1 && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("discovery: %s %s: replay body: %w", req.Method, req.URL.Redacted(), err)
		}
		out.Body = body
	}
	return out, nil
}

// neverSent reports whether err shows the request never reached the
// instance (the dial failed), which makes even a POST safe to retry.
func neverSent(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// finishWithBody keeps the request in flight on ep until resp's body is
// read to its end or closed, so that least-request balancing sees an
// instance that streams slowly as busy; a body cut short by the instance
// counts as its failure.
func finishWithBody(resp *http.Response, ep *Endpoint) *http.Response {
	if resp == nil || resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols {
		// Nothing to wait for; and an upgraded connection's body is an
		// io.ReadWriteCloser that must not be wrapped.
		ep.Done(nil)
		return resp
	}
	resp.Body = &endpointBody{body: resp.Body, ep: ep}
	return resp
}

// endpointBody calls its endpoint's Done once, when the body ends.
type endpointBody struct {
	body     io.ReadCloser
	ep       *Endpoint
	finished atomic.Bool
}

func (b *endpointBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	switch {
	case err == nil:
	case err == io.EOF, errors.Is(err, context.Canceled):
		b.finish(nil)
	default:
		b.finish(errInstanceFailed)
	}
	return n, err
}

func (b *endpointBody) Close() error {
	err := b.body.Close()
	b.finish(nil)
	return err
}

func (b *endpointBody) finish(err error) {
	if b.finished.CompareAndSwap(false, true) {
		b.ep.Done(err)
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
