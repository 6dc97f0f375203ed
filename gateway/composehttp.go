package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ComposeHandler serves a composition as JSON: for each request it runs
// [Compose] with build, which reads the request (path parameters with
// r.PathValue) and fills in a T. Mount it as a gateway route's Handler, so
// that it runs behind the route's authentication and within its Timeout
// (then timeout may be zero: the route's deadline bounds the
// composition), or in any server.
//
// It answers 200 with the [Composite], also for a partial one (the header
// X-Composite-Partial then lists the failed parts). When a required part
// failed, or build returned an error, it answers in the gateway's JSON
// error shape with the status of [ComposeStatus]: a required part's
// definitive refusal (404, 410, 401, 403) passes through as that status,
// so that the details of an order that does not exist are 404; an
// upstream's 503 or no upstream at all is 503, a timeout 504, any other
// failure 502.
func ComposeHandler[T any](timeout time.Duration, build func(r *http.Request, c *Composition, data *T) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var run func(c *Composition, data *T) error // nil, for Compose to refuse, when build is
		if build != nil {
			run = func(c *Composition, data *T) error { return build(r, c, data) }
		}
		c, err := Compose(r.Context(), timeout, run)
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
// another status or a transport error, is 502. Handlers that run Compose
// themselves use it to answer like [ComposeHandler].
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

// GetJSON returns a fetch function for [Fetch] that GETs url with client
// (nil means http.DefaultClient) and decodes the JSON body, at most 8 MiB,
// into a T. A non-2xx answer is an *UpstreamStatusError, which
// [ComposeStatus] reads. header, if not nil, is sent with the request
// (e.g. the caller's subject or X-Request-Id).
func GetJSON[T any](client *http.Client, url string, header http.Header) func(ctx context.Context) (T, error) {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context) (T, error) {
		var v T
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return v, fmt.Errorf("gateway: fetch %s: %w", url, err)
		}
		for k, vs := range header {
			req.Header[k] = vs
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return v, fmt.Errorf("gateway: fetch %s: %w", url, err)
		}
		defer resp.Body.Close()
		// Read before looking at the status, so that the connection of an
		// error answer is reused too.
		body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return v, &UpstreamStatusError{Upstream: req.URL.Host, StatusCode: resp.StatusCode}
		}
		if err != nil {
			return v, fmt.Errorf("gateway: fetch %s: %w", url, err)
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return v, fmt.Errorf("gateway: fetch %s: %w", url, err)
		}
		return v, nil
	}
}
