package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// DefaultBodyReadTimeout is how long a client may take to send a request
// body when neither the route (Route.BodyReadTimeout) nor the gateway
// (WithBodyReadTimeout) says otherwise.
const DefaultBodyReadTimeout = 30 * time.Second

// StatusClientClosedRequest (499, a name nginx gave it) is logged for a
// request whose client went away before it was answered.
const StatusClientClosedRequest = 499

// ClientError reports that a request failed because of its client, not its
// upstream: a request body that was malformed (a bad chunk), larger than
// its limit, too slow, or cut short, or a client that went away. The
// gateway answers it with Status and never counts it against the upstream:
// not as a breaker failure, not for outlier ejection, not as a reason to
// retry.
//
// A ClientError matches context.Canceled (errors.Is), the signal by which
// every consumer of outcomes in this module already knows that an outcome
// says nothing about the upstream: breaker.DefaultClassifier ignores it,
// discovery.DefaultIsFailure does not count it, and the done funcs of
// Target and Breakers must not count it. A transport that wraps the
// gateway's (discovery.Transport, breaker.Transport, tracing) thus leaves
// it uncounted too.
type ClientError struct {
	// Status is the answer: 400 (malformed or cut-short body), 408 (body
	// slower than the read timeout), 413 (body over its limit) or 499
	// (client gone).
	Status int
	// Err is the cause, such as the error reading the request body.
	Err error
}

// Error implements error.
func (e *ClientError) Error() string {
	return fmt.Sprintf("gateway: client fault (%d): %v", e.Status, e.Err)
}

// Unwrap returns the cause.
func (e *ClientError) Unwrap() error { return e.Err }

// Is reports whether target is context.Canceled; see ClientError.
func (e *ClientError) Is(target error) bool { return target == context.Canceled }

// code is the ErrorDetail.Code and message of the answer to e.
func (e *ClientError) code() (string, string) {
	switch e.Status {
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge, "request body too large"
	case http.StatusRequestTimeout:
		return CodeRequestTimeout, "request body not received in time"
	case StatusClientClosedRequest:
		return CodeClientClosed, "client closed the request"
	}
	return CodeBadRequest, "malformed or incomplete request body"
}

// clientFault types an error reading the request body from the client.
func clientFault(err error) *ClientError {
	var ce *ClientError
	if errors.As(err, &ce) {
		return ce
	}
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooBig):
		return &ClientError{Status: http.StatusRequestEntityTooLarge, Err: err}
	case errors.As(err, &netErr) && netErr.Timeout():
		return &ClientError{Status: http.StatusRequestTimeout, Err: err}
	}
	// A bad chunk, a body shorter than its Content-Length, a reset
	// connection: the framing of the request is broken.
	return &ClientError{Status: http.StatusBadRequest, Err: err}
}

// clientBody wraps an inbound request body so that every error reading it
// is a *ClientError, and remembers the first one and whether a read is
// waiting on the client right now.
type clientBody struct {
	body    io.ReadCloser
	reading atomic.Bool
	fault   atomic.Pointer[ClientError]
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.reading.Store(true)
	n, err := b.body.Read(p)
	b.reading.Store(false)
	if err == nil || err == io.EOF {
		return n, err
	}
	ce := clientFault(err)
	b.fault.CompareAndSwap(nil, ce)
	return n, ce
}

func (b *clientBody) Close() error { return b.body.Close() }

// clientFaultOf returns the client's fault in an attempt whose request
// body is body (nil when it has none) and whose round trip returned err:
// the body's own read error, or, when the round trip failed (deadline,
// cancellation) while the body was still waiting on the client, that
// wait. It returns nil when the client is not at fault.
func clientFaultOf(body *clientBody, err error) *ClientError {
	if body == nil {
		return asClientError(err)
	}
	if f := body.fault.Load(); f != nil {
		return f
	}
	if err == nil || !body.reading.Load() {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return &ClientError{Status: StatusClientClosedRequest, Err: err}
	}
	return &ClientError{Status: http.StatusRequestTimeout, Err: err}
}

// attemptOutcome is the one place that decides what the result of an
// attempt says about its upstream. It returns nil for a success, an
// *UpstreamStatusError for a 5xx answer, a transport error (refused,
// reset, timed out) as it is, and an error matching context.Canceled when
// the result says nothing about the upstream: the client's fault (a
// *ClientError), the client's cancellation, or an attempt not sent.
// Breakers, Target done funcs and the retry decision all take this value.
func attemptOutcome(upstream string, body *clientBody, resp *http.Response, err error) error {
	if f := clientFaultOf(body, err); f != nil {
		return f
	}
	if err != nil {
		return err
	}
	if resp.StatusCode >= 500 {
		return &UpstreamStatusError{Upstream: upstream, StatusCode: resp.StatusCode}
	}
	return nil
}

// countsAgainstUpstream reports whether an outcome of attemptOutcome is
// the upstream's failure.
func countsAgainstUpstream(outcome error) bool {
	return outcome != nil && !errors.Is(outcome, context.Canceled)
}

// guardBody wraps the body of r (when it has one) in a clientBody and sets
// the read deadline of the connection for it: at most timeout from now,
// and never later than r's context deadline (the route's Timeout), so that
// a client that sends its body slowly is answered 408 in time. It returns
// the wrapper, nil when r has no body.
func guardBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) *clientBody {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	deadline := time.Now().Add(timeout)
	if d, ok := r.Context().Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	// Servers that cannot set a read deadline (ErrNotSupported) keep their
	// own ReadTimeout; nothing else can be done here.
	_ = http.NewResponseController(w).SetReadDeadline(deadline)
	cb := &clientBody{body: r.Body}
	r.Body = cb
	return cb
}

// asClientError returns the *ClientError in err's chain, or nil; it costs
// nothing when err is nil, as on every successful attempt.
func asClientError(err error) *ClientError {
	if err == nil {
		return nil
	}
	var ce *ClientError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}
