package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/go-microkit/microkit/gateway"
)

func value(v any) func(context.Context) (any, error) {
	return func(context.Context) (any, error) { return v, nil }
}

func failing(err error) func(context.Context) (any, error) {
	return func(context.Context) (any, error) { return nil, err }
}

// blocked returns only when its context is done.
func blocked(ctx context.Context) (any, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestCompose(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		timeout  time.Duration
		parts    []gateway.Part
		err      error
		data     []string
		partial  []gateway.PartFailure
		failPart string
	}{
		{name: "all succeed", parts: []gateway.Part{
			{Name: "order", Required: true, Fetch: value(1)}, {Name: "user", Fetch: value(2)}},
			data: []string{"order", "user"}},
		{name: "optional times out", parts: []gateway.Part{
			{Name: "order", Required: true, Fetch: value(1)}, {Name: "reviews", Timeout: time.Millisecond, Fetch: blocked}},
			data: []string{"order"}, partial: []gateway.PartFailure{{Part: "reviews", Reason: "timeout"}}},
		{name: "optional fails", parts: []gateway.Part{
			{Name: "order", Required: true, Fetch: value(1)}, {Name: "user", Fetch: failing(boom)}, {Name: "b", Fetch: failing(boom)}},
			data: []string{"order"}, partial: []gateway.PartFailure{{Part: "b", Reason: "error"}, {Part: "user", Reason: "error"}}},
		{name: "required fails, others canceled", parts: []gateway.Part{
			{Name: "order", Required: true, Fetch: failing(boom)}, {Name: "slow", Fetch: blocked}},
			err: boom, failPart: "order"},
		{name: "deadline hits a required part", timeout: time.Millisecond, parts: []gateway.Part{
			{Name: "order", Required: true, Fetch: blocked}},
			err: context.DeadlineExceeded, failPart: "order"},
		{name: "invalid", parts: []gateway.Part{{Name: "a", Fetch: value(1)}, {Name: "a", Fetch: value(1)}}, err: gateway.ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := gateway.Compose(context.Background(), tt.timeout, tt.parts...)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				var pe *gateway.PartError
				if tt.failPart != "" && (!errors.As(err, &pe) || pe.Part != tt.failPart || !errors.Is(err, gateway.ErrRequiredPart)) {
					t.Fatalf("error %v, want a PartError for %s", err, tt.failPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Data) != len(tt.data) {
				t.Fatalf("data %v, want keys %v", c.Data, tt.data)
			}
			for _, k := range tt.data {
				if _, ok := c.Data[k]; !ok {
					t.Fatalf("data %v lacks %s", c.Data, k)
				}
			}
			if c.Partial != (len(tt.partial) > 0) || len(c.Failed) != len(tt.partial) {
				t.Fatalf("partial %v failed %v, want %v", c.Partial, c.Failed, tt.partial)
			}
			for i := range tt.partial {
				if c.Failed[i] != tt.partial[i] {
					t.Fatalf("failed %v, want %v", c.Failed, tt.partial)
				}
			}
		})
	}
}

func TestComposeHandler(t *testing.T) {
	backend := func(body string, status int) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if status == 0 {
				<-r.Context().Done()
				return
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(s.Close)
		return s
	}
	order := backend(`{"id":"o1"}`, 200)
	user := backend(`{"id":"u1"}`, 200)
	hung := backend("", 0)
	status := func(code int) *httptest.Server { return backend(`{"error":{}}`, code) }
	// Timeouts are short only where a backend hangs, so that a slow
	// machine cannot turn a healthy backend into a timeout.
	const long, short = time.Minute, 10 * time.Millisecond
	tests := []struct {
		name               string
		optional, required *httptest.Server
		overall, optTime   time.Duration
		status             int
		code               string
		partial            string
	}{
		{"complete", user, order, long, long, 200, "", ""},
		{"optional hangs", hung, order, long, short, 200, "", "products"},
		{"optional not found", status(404), order, long, long, 200, "", "products"},
		{"required not found", user, status(404), long, long, 404, gateway.CodeNotFound, ""},
		{"required gone", user, status(410), long, long, 410, gateway.CodeGone, ""},
		{"required unauthorized", user, status(401), long, long, 401, gateway.CodeUnauthorized, ""},
		{"required forbidden", user, status(403), long, long, 403, gateway.CodeForbidden, ""},
		{"required bad request is the gateway's", user, status(400), long, long, 502, gateway.CodeBadGateway, ""},
		{"required conflict", user, status(409), long, long, 502, gateway.CodeBadGateway, ""},
		{"required broken", user, status(500), long, long, 502, gateway.CodeBadGateway, ""},
		{"required unavailable", user, status(503), long, long, 503, gateway.CodeUpstreamUnavailable, ""},
		{"required hangs", user, hung, short, long, 504, gateway.CodeUpstreamTimeout, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := gateway.ComposeHandler(tt.overall, func(r *http.Request) []gateway.Part {
				return []gateway.Part{
					{Name: "order", Required: true, Fetch: gateway.FetchJSON(nil, tt.required.URL, nil)},
					{Name: "products", Timeout: tt.optTime, Fetch: gateway.FetchJSON(nil, tt.optional.URL, nil)},
				}
			})
			w := serve(h, httptest.NewRequest("GET", "/", nil))
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if w.Header().Get("X-Composite-Partial") != tt.partial {
				t.Fatalf("partial header %q", w.Header().Get("X-Composite-Partial"))
			}
			if tt.status != 200 {
				if e := decodeError(t, w.Body.Bytes()); e.Status != tt.status || e.Code != tt.code {
					t.Fatalf("error %+v, want status %d code %q", e, tt.status, tt.code)
				}
				return
			}
			var c struct {
				Data    map[string]json.RawMessage
				Partial bool
			}
			if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil || string(c.Data["order"]) != `{"id":"o1"}` || c.Partial != (tt.partial != "") {
				t.Fatalf("body %s (%v)", w.Body, err)
			}
		})
	}
}

// Errors that carry no upstream status: no upstream to ask is 503, a
// transport failure 502, a client that went away 499, and a cancelled
// request is never blamed on a part.
func TestComposeStatus(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	refused := &url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}
	tests := []struct {
		name   string
		ctx    context.Context
		err    error
		status int
		code   string
	}{
		{"no upstream", context.Background(), gateway.ErrNoUpstream, 503, gateway.CodeUpstreamUnavailable},
		{"breaker open", context.Background(), gateway.ErrUpstreamUnavailable, 503, gateway.CodeUpstreamUnavailable},
		{"refused", context.Background(), refused, 502, gateway.CodeBadGateway},
		{"deadline", context.Background(), context.DeadlineExceeded, 504, gateway.CodeUpstreamTimeout},
		{"client gone", cancelled, context.Canceled, gateway.StatusClientClosedRequest, gateway.CodeClientClosed},
		{"bad parts", context.Background(), gateway.ErrInvalidOption, 500, gateway.CodeInternal},
		{"not found wrapped", context.Background(), &gateway.PartError{Part: "order", Err: &gateway.UpstreamStatusError{StatusCode: 404}}, 404, gateway.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code, msg := gateway.ComposeStatus(tt.ctx, tt.err)
			if status != tt.status || code != tt.code || msg == "" {
				t.Fatalf("got %d %q %q, want %d %q", status, code, msg, tt.status, tt.code)
			}
		})
	}
}
