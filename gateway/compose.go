package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Part is one backend call of a composition.
type Part struct {
	// Name keys the part's result in Composite.Data. Required, unique.
	Name string
	// Required parts must succeed: if one fails, Compose fails. Optional
	// parts may fail; the composite is then marked Partial.
	Required bool
	// Timeout bounds this part alone; zero means only the composition's
	// deadline.
	Timeout time.Duration
	// Fetch calls the backend. It must return when ctx is done: Compose
	// waits for every part before it returns.
	Fetch func(ctx context.Context) (any, error)
}

// Composite is the merged result of a composition.
type Composite struct {
	// Data holds each successful part's result under its Name.
	Data map[string]any `json:"data"`
	// Partial is true when an optional part failed.
	Partial bool `json:"partial"`
	// Failed lists the optional parts that failed, sorted by name.
	Failed []PartFailure `json:"failed,omitempty"`
}

// PartFailure says which optional part failed and how.
type PartFailure struct {
	// Part is the part's Name.
	Part string `json:"part"`
	// Reason is "timeout" when the part ran out of time, else "error".
	Reason string `json:"reason"`
}

// PartError is returned by Compose when a required part failed; it wraps
// both ErrRequiredPart and the part's error.
type PartError struct {
	// Part is the failed part's Name.
	Part string
	// Err is what its Fetch returned.
	Err error
}

// Error implements error.
func (e *PartError) Error() string {
	return fmt.Sprintf("gateway: compose: required part %q: %v", e.Part, e.Err)
}

// Unwrap returns ErrRequiredPart and the part's error.
func (e *PartError) Unwrap() []error { return []error{ErrRequiredPart, e.Err} }

// Compose calls every part in parallel under one deadline (timeout; zero
// means ctx's own) and merges the results: the API-composition pattern,
// e.g. order details built from the order, user and product services. When
// a required part fails, the other parts are canceled and Compose returns a
// *PartError. When an optional part fails or times out, the composite
// carries the other parts and is marked Partial with the failure listed.
// Compose returns only after every Fetch has returned.
func Compose(ctx context.Context, timeout time.Duration, parts ...Part) (*Composite, error) {
	seen := make(map[string]bool, len(parts))
	for i, p := range parts {
		if p.Name == "" || seen[p.Name] || p.Fetch == nil || p.Timeout < 0 {
			return nil, fmt.Errorf("%w: compose: part %d (%q) needs a unique name, a Fetch and a non-negative Timeout", ErrInvalidOption, i, p.Name)
		}
		seen[p.Name] = true
	}
	if timeout < 0 {
		return nil, fmt.Errorf("%w: compose: negative timeout", ErrInvalidOption)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	ctx, cancelAll := context.WithCancelCause(ctx)
	defer cancelAll(nil)

	type result struct {
		value any
		err   error
	}
	results := make([]result, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Go(func() {
			pctx := ctx
			if p.Timeout > 0 {
				var cancel context.CancelFunc
				pctx, cancel = context.WithTimeout(ctx, p.Timeout)
				defer cancel()
			}
			v, err := p.Fetch(pctx)
			if err == nil && pctx.Err() != nil {
				err = pctx.Err() // finished too late to count
			}
			results[i] = result{v, err}
			if err != nil && p.Required {
				cancelAll(&PartError{Part: p.Name, Err: err})
			}
		})
	}
	wg.Wait()
	var pe *PartError
	if errors.As(context.Cause(ctx), &pe) {
		return nil, pe
	}
	c := &Composite{Data: make(map[string]any, len(parts))}
	for i, p := range parts {
		r := results[i]
		if r.err == nil {
			c.Data[p.Name] = r.value
			continue
		}
		if p.Required {
			return nil, &PartError{Part: p.Name, Err: r.err}
		}
		reason := "error"
		if errors.Is(r.err, context.DeadlineExceeded) {
			reason = "timeout"
		}
		c.Partial = true
		c.Failed = append(c.Failed, PartFailure{Part: p.Name, Reason: reason})
	}
	sort.Slice(c.Failed, func(i, j int) bool { return c.Failed[i].Part < c.Failed[j].Part })
	return c, nil
}

// ComposeHandler serves a composition as JSON: parts builds the parts for
// each request (path parameters are in r.PathValue). It answers 200 with the
// Composite, also for a partial one (the header X-Composite-Partial then
// lists the failed parts). When a required part failed it answers in the
// gateway's JSON error shape (see [ComposeStatus]): a required part's
// definitive refusal (404, 410, 401, 403) passes through as that status,
// so that the details of an order that does not exist are 404; an
// upstream's 503 or no upstream at all is 503, a timeout 504, any other
// failure 502.
func ComposeHandler(timeout time.Duration, parts func(r *http.Request) []Part) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Compose(r.Context(), timeout, parts(r)...)
		if err != nil {
			status, code, msg := ComposeStatus(r.Context(), err)
			WriteError(w, r, status, code, msg)
			return
		}
		body, err := json.Marshal(c)
		if err != nil {
			WriteError(w, r, http.StatusInternalServerError, CodeInternal, "cannot encode composition")
			return
		}
		if c.Partial {
			names := make([]string, len(c.Failed))
			for i, f := range c.Failed {
				names[i] = f.Part
			}
			w.Header()["X-Composite-Partial"] = names
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	})
}

// ComposeStatus says how to answer a failed composition, the error of
// [Compose] under ctx, the request's context: the HTTP status, the
// [ErrorDetail] code and a message for the client, which never carries the
// cause. A required part's definitive client-error answer (an
// *UpstreamStatusError with 404, 410, 401 or 403) is that status: the
// resource is missing or not the caller's, which is not the gateway's
// failure and must not read as one. An upstream's 503, ErrNoUpstream and
// ErrUpstreamUnavailable are 503; a timeout is 504; a client that went
// away is 499 (for the logs); invalid parts are 500; anything else,
// another status or a transport error, is 502. Handlers that compose with
// Compose themselves use it to answer like [ComposeHandler].
func ComposeStatus(ctx context.Context, err error) (status int, code, message string) {
	var upstream *UpstreamStatusError
	if errors.As(err, &upstream) {
		switch upstream.StatusCode {
		case http.StatusNotFound:
			return http.StatusNotFound, CodeNotFound, "not found"
		case http.StatusGone:
			return http.StatusGone, CodeGone, "gone"
		case http.StatusUnauthorized:
			return http.StatusUnauthorized, CodeUnauthorized, "not authorized"
		case http.StatusForbidden:
			return http.StatusForbidden, CodeForbidden, "forbidden"
		case http.StatusServiceUnavailable:
			return http.StatusServiceUnavailable, CodeUpstreamUnavailable, "a required part is unavailable"
		}
		return http.StatusBadGateway, CodeBadGateway, "a required part failed"
	}
	switch {
	case errors.Is(err, ErrInvalidOption):
		return http.StatusInternalServerError, CodeInternal, "bad composition"
	case errors.Is(ctx.Err(), context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
		return StatusClientClosedRequest, CodeClientClosed, "the client closed the request"
	}
	switch status, code, _ := classify(err); status {
	case http.StatusGatewayTimeout:
		return status, code, "a required part timed out"
	case http.StatusServiceUnavailable:
		return status, code, "a required part is unavailable"
	}
	return http.StatusBadGateway, CodeBadGateway, "a required part failed"
}

// FetchJSON returns a Part Fetch that GETs url with client (nil means
// http.DefaultClient) and returns the JSON body as a json.RawMessage. A
// non-2xx status is an error. header, if not nil, is sent with the request
// (e.g. the caller's Authorization or X-Request-Id).
func FetchJSON(client *http.Client, url string, header http.Header) func(ctx context.Context) (any, error) {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context) (any, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, fmt.Errorf("gateway: fetch %s: %w", url, err)
		}
		for k, vs := range header {
			req.Header[k] = vs
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("gateway: fetch %s: %w", url, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		if err != nil {
			return nil, fmt.Errorf("gateway: fetch %s: %w", url, err)
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return nil, &UpstreamStatusError{Upstream: req.URL.Host, StatusCode: resp.StatusCode}
		}
		if !json.Valid(body) {
			return nil, fmt.Errorf("gateway: fetch %s: body is not JSON", url)
		}
		return json.RawMessage(body), nil
	}
}
