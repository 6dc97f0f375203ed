package gateway_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/internal/memhttp"
	"github.com/go-microkit/microkit/retry"
)

// seen is what the echo upstream reports about the request it received.
type seen struct {
	Upstream string      `json:"upstream"`
	Method   string      `json:"method"`
	Path     string      `json:"path"`
	RawPath  string      `json:"raw_path"`
	Query    string      `json:"query"`
	Host     string      `json:"host"`
	Header   http.Header `json:"header"`
	Body     string      `json:"body"`
}

// echoUpstream starts a real upstream that answers with what it saw.
func echoUpstream(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		// For HEAD, which has no body to decode.
		w.Header().Set("X-Upstream", name)
		w.Header().Set("X-Upstream-Method", r.Method)
		_ = json.NewEncoder(w).Encode(seen{Upstream: name, Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath,
			Query: r.URL.RawQuery, Host: r.Host, Header: r.Header, Body: string(body)})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// memoryGateway builds a gateway whose upstreams are served in memory by
// up, by host, for tests that run in a synctest bubble; requests go to it
// through ServeHTTP. A host up does not serve refuses the connection.
func memoryGateway(t testing.TB, routes []gateway.Route, up memhttp.Hosts, opts ...gateway.Option) *gateway.Gateway {
	t.Helper()
	opts = append([]gateway.Option{gateway.WithLogger(slog.New(slog.DiscardHandler)), gateway.WithTransport(up)}, opts...)
	g, err := gateway.New(routes, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func mustTarget(t testing.TB, u string) gateway.Target {
	t.Helper()
	tg, err := gateway.StaticTarget(u)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func mustGateway(t testing.TB, routes []gateway.Route, opts ...gateway.Option) *httptest.Server {
	t.Helper()
	opts = append([]gateway.Option{gateway.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	g, err := gateway.New(routes, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request with a raw (unnormalized) path and returns status,
// header and body.
func do(t testing.TB, method, url string, header http.Header, body io.Reader) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func decodeSeen(t testing.TB, b []byte) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("upstream body %q: %v", b, err)
	}
	return s
}

func decodeError(t testing.TB, b []byte) gateway.ErrorDetail {
	t.Helper()
	var e gateway.ErrorBody
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Status == 0 {
		t.Fatalf("not a gateway error body: %q (%v)", b, err)
	}
	return e.Error
}

// serveFrontDoor serves h on a real loopback server configured by
// NewServer, then by tune.
func serveFrontDoor(t testing.TB, h http.Handler, tune ...func(*http.Server)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config = gateway.NewServer("", h)
	for _, f := range tune {
		f(srv.Config)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// retries returns a policy of n retries after the first try, a
// millisecond or so apart, so that tests against real servers stay quick;
// zero is the zero policy.
func retries(n int) retry.Policy {
	if n == 0 {
		return retry.Policy{}
	}
	return retry.Policy{MaxAttempts: 1 + n, Backoff: retry.Backoff{Initial: time.Millisecond}}
}
