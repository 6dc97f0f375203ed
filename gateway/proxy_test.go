package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/retry"
)

// deadURL is the address of a listener that was closed: connecting fails.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestUpstreamErrors(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers in time
	}))
	t.Cleanup(slow.Close)
	gw := mustGateway(t, []gateway.Route{
		{Path: "/dead/**", Target: mustTarget(t, deadURL(t))},
		{Path: "/slow/**", Target: mustTarget(t, slow.URL), Timeout: 20 * time.Millisecond},
	})
	tests := []struct {
		path   string
		status int
		code   string
	}{
		{"/dead/x", http.StatusBadGateway, gateway.CodeBadGateway},
		{"/slow/x", http.StatusGatewayTimeout, gateway.CodeUpstreamTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, h, body := do(t, "GET", gw.URL+tt.path, nil, nil)
			e := decodeError(t, body)
			if status != tt.status || e.Code != tt.code || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Fatalf("got %d %+v (%s)", status, e, h.Get("Content-Type"))
			}
			if strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "dial") {
				t.Fatalf("error body leaks internals: %s", body)
			}
		})
	}
}

func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release // the second event waits until the client saw the first
		fmt.Fprint(w, "data: second\n\n")
	}))
	t.Cleanup(up.Close)
	quiet := slog.New(slog.DiscardHandler)
	// Through the response-wrapping middleware too: flushes must pass.
	gw := mustGateway(t, []gateway.Route{{Path: "/events", Target: mustTarget(t, up.URL)}},
		gateway.WithMiddleware(gateway.RequestID(), gateway.AccessLog(slog.New(slog.NewTextHandler(io.Discard, nil))), gateway.Recover(quiet)))
	resp, err := http.Get(gw.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	line, err := rd.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(release)
	rest, _ := io.ReadAll(rd)
	if !strings.Contains(string(rest), "data: second") {
		t.Fatalf("rest %q", rest)
	}
}

func TestRequestBodyStreamsUpstream(t *testing.T) {
	got := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 5)
		_, _ = io.ReadFull(r.Body, b)
		got <- string(b) // read before the client finished sending
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(up.Close)
	gw := mustGateway(t, []gateway.Route{{Path: "/up", Target: mustTarget(t, up.URL)}})
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		resp, err := http.Post(gw.URL+"/up", "text/plain", pr)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	if _, err := pw.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "hello" {
		t.Fatalf("upstream read %q", s)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// flaky answers 503 to the first n requests, then 200; it counts calls.
func flaky(t *testing.T, n int64) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		body      string
		header    http.Header
		failures  int64
		attempts  int
		status    int
		wantCalls int64
	}{
		{"GET retried until success", "GET", "", nil, 2, 2, 200, 3},
		{"GET gives up after attempts", "GET", "", nil, 5, 2, 503, 3},
		{"DELETE is idempotent", "DELETE", "", nil, 1, 1, 200, 2},
		{"POST never retried", "POST", "", nil, 1, 3, 503, 1},
		{"PATCH never retried", "PATCH", "", nil, 1, 3, 503, 1},
		{"POST with an Idempotency-Key retried", "POST", "", http.Header{"Idempotency-Key": {"k1"}}, 1, 3, 200, 2},
		{"POST with X-Idempotency-Key never retried", "POST", "", http.Header{"X-Idempotency-Key": {"k1"}}, 1, 3, 503, 1},
		{"PUT with a streamed body not retried", "PUT", "x", nil, 1, 3, 503, 1},
		{"no policy, no retry", "GET", "", nil, 1, 0, 503, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, calls := flaky(t, tt.failures)
			gw := mustGateway(t, []gateway.Route{{Path: "/x", Target: mustTarget(t, up.URL), Retry: retries(tt.attempts)}})
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			status, _, _ := do(t, tt.method, gw.URL+"/x", tt.header, body)
			if status != tt.status || calls.Load() != tt.wantCalls {
				t.Fatalf("status %d after %d calls, want %d after %d", status, calls.Load(), tt.status, tt.wantCalls)
			}
		})
	}
}

func TestRetryBudget(t *testing.T) {
	// No share of requests, a floor of ten retries over the window: a
	// route whose upstream always fails retries ten of its requests, not
	// every one. (How the budget refills is package retry's test.)
	budget, err := retry.NewBudget(retry.BudgetPolicy{Ratio: -1, MinPerSecond: 1, Window: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	up, calls := flaky(t, 1<<30)
	gw := mustGateway(t, []gateway.Route{{Path: "/x", Target: mustTarget(t, up.URL),
		Retry: retries(1), RetryBudget: budget}})
	for range 15 {
		do(t, "GET", gw.URL+"/x", nil, nil)
	}
	if got := calls.Load(); got != 15+10 {
		t.Fatalf("15 requests made %d calls, want 25 (10 retries in budget)", got)
	}
}

// TestRetryReplaysABufferedBody: a request whose body a middleware
// buffered (setting GetBody) may be retried, and each attempt carries the
// whole body.
func TestRetryReplaysABufferedBody(t *testing.T) {
	var calls atomic.Int64
	var bodies sync.Map
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		bodies.Store(n, string(b))
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(up.Close)
	buffer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
			next.ServeHTTP(w, r)
		})
	}
	gw := mustGateway(t, []gateway.Route{{Path: "/x", Target: mustTarget(t, up.URL),
		Middleware: []gateway.Middleware{buffer}, Retry: retries(2)}})
	if status, _, _ := do(t, "PUT", gw.URL+"/x", nil, strings.NewReader("payload")); status != 200 || calls.Load() != 2 {
		t.Fatalf("status %d after %d calls, want 200 after 2", status, calls.Load())
	}
	for n := range int64(2) {
		if b, _ := bodies.Load(n + 1); b != "payload" {
			t.Errorf("attempt %d carried %q, want the whole body", n+1, b)
		}
	}
}

func TestBodyLimitThroughProxy(t *testing.T) {
	up := echoUpstream(t, "up")
	gw := mustGateway(t, []gateway.Route{{Path: "/x", Target: mustTarget(t, up.URL), Middleware: []gateway.Middleware{gateway.BodyLimit(8)}}})
	status, _, _ := do(t, "POST", gw.URL+"/x", nil, strings.NewReader("12345678"))
	if status != 200 {
		t.Fatalf("body at the limit: %d", status)
	}
	status, _, body := do(t, "POST", gw.URL+"/x", nil, strings.NewReader("123456789"))
	if status != http.StatusRequestEntityTooLarge || decodeError(t, body).Code != gateway.CodeTooLarge {
		t.Fatalf("declared length over the limit: %d %s", status, body)
	}
	// Chunked: no Content-Length, so the limit bites while proxying.
	req, _ := http.NewRequestWithContext(context.Background(), "POST", gw.URL+"/x", io.MultiReader(bytes.NewReader(make([]byte, 64<<10))))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("streamed body over the limit: %d", resp.StatusCode)
	}
}
