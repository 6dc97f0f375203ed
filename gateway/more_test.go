package gateway_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/internal/memhttp"
	"github.com/go-microkit/microkit/retry"
)

func TestClientIP(t *testing.T) {
	ip, err := gateway.NewClientIP("10.0.0.0/8", "192.0.2.7", "2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		remote  string
		xff     []string
		want    string
		trusted bool
	}{
		{"198.51.100.1:1", []string{"203.0.113.1"}, "198.51.100.1", false},
		{"10.1.2.3:1", nil, "10.1.2.3", true},
		{"10.1.2.3:1", []string{"203.0.113.1"}, "203.0.113.1", true},
		{"10.1.2.3:1", []string{"203.0.113.1, 192.0.2.7"}, "203.0.113.1", true},
		{"10.1.2.3:1", []string{"198.51.100.9", "203.0.113.1, 10.0.0.1"}, "203.0.113.1", true},
		{"10.1.2.3:1", []string{"10.0.0.5, 10.0.0.1"}, "10.0.0.5", true},
		{"10.1.2.3:1", []string{"203.0.113.1, garbage"}, "10.1.2.3", true},
		{"[2001:db8::5]:1", []string{"2001:db9::1"}, "2001:db9::1", true},
		{"[::ffff:10.0.0.1]:1", []string{"203.0.113.1"}, "203.0.113.1", true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		r.Header["X-Forwarded-For"] = tt.xff
		if got := ip.Addr(r).String(); got != tt.want || ip.Trusted(r) != tt.trusted {
			t.Errorf("%s %v: %s (trusted %v), want %s (%v)", tt.remote, tt.xff, got, ip.Trusted(r), tt.want, tt.trusted)
		}
	}
	if _, err := gateway.NewClientIP("10.0.0.0/33"); !errors.Is(err, gateway.ErrInvalidOption) {
		t.Fatalf("bad prefix: %v", err)
	}
}

// TestRouteContext: route middleware sees the route's name, and the
// captured parameters as the request's path values.
func TestRouteContext(t *testing.T) {
	up := echoUpstream(t, "up")
	var route, id, tail, nope, pattern string
	peek := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			route, pattern = gateway.RouteFromContext(r.Context()), r.Pattern
			id, tail, nope = r.PathValue("id"), r.PathValue("**"), r.PathValue("nope")
			next.ServeHTTP(w, r)
		})
	}
	gw := mustGateway(t, []gateway.Route{{Name: "item", Path: "/orders/{id}/items/**", Target: mustTarget(t, up.URL),
		Middleware: []gateway.Middleware{peek}}}, gateway.WithFlushInterval(-1))
	if status, _, _ := do(t, "GET", gw.URL+"/orders/4%202/items/a/b", nil, nil); status != 200 {
		t.Fatalf("status %d", status)
	}
	if route != "item" || pattern != "/orders/{id}/items/**" || id != "4 2" || tail != "a/b" || nope != "" {
		t.Fatalf("route %q pattern %q id %q tail %q nope %q", route, pattern, id, tail, nope)
	}
}

func TestRetryBackoff(t *testing.T) {
	up, calls := flaky(t, 1)
	gw := mustGateway(t, []gateway.Route{
		{Path: "/x", Target: mustTarget(t, up.URL), Retry: retries(1)},
		// A backoff longer than the route's timeout: the wait is cut short
		// and the answer is 504.
		{Path: "/y", Target: mustTarget(t, up.URL), Timeout: 20 * time.Millisecond,
			Retry: retry.Policy{MaxAttempts: 2, Backoff: retry.Backoff{Initial: time.Hour, Jitter: retry.NoJitter}}},
	})
	if status, _, _ := do(t, "GET", gw.URL+"/x", nil, nil); status != 200 || calls.Load() != 2 {
		t.Fatalf("after a backoff: %d with %d calls", status, calls.Load())
	}
	calls.Store(0)
	status, _, body := do(t, "GET", gw.URL+"/y", nil, nil)
	if status != http.StatusGatewayTimeout || decodeError(t, body).Code != gateway.CodeUpstreamTimeout || calls.Load() != 1 {
		t.Fatalf("backoff past the timeout: %d (%s) with %d calls", status, body, calls.Load())
	}
}

// TestRetryPolicyPacesAttempts: a route's retry.Policy bounds the attempts
// (MaxAttempts, MaxElapsed from the first try) and its Backoff paces them;
// the last attempt's answer reaches the client.
func TestRetryPolicyPacesAttempts(t *testing.T) {
	ms := time.Millisecond
	backoff := retry.Backoff{Initial: 100 * ms, Jitter: retry.NoJitter}
	for _, tt := range []struct {
		name   string
		policy retry.Policy
		want   []time.Duration // when each attempt reached the upstream
	}{
		{"max attempts", retry.Policy{MaxAttempts: 4, Backoff: backoff}, []time.Duration{0, 100 * ms, 300 * ms, 700 * ms}},
		{"max elapsed", retry.Policy{MaxAttempts: -1, MaxElapsed: time.Second, Backoff: backoff}, []time.Duration{0, 100 * ms, 300 * ms, 700 * ms}},
		{"zero", retry.Policy{}, []time.Duration{0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				var mu sync.Mutex
				var at []time.Duration
				up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					at = append(at, time.Since(start))
					mu.Unlock()
					w.WriteHeader(http.StatusServiceUnavailable)
				})
				g := memoryGateway(t, []gateway.Route{{Path: "/x", Target: mustTarget(t, "http://up.test"), Retry: tt.policy}},
					memhttp.Hosts{"up.test": up})
				if w := serve(g, httptest.NewRequest("GET", "/x", nil)); w.Code != http.StatusServiceUnavailable {
					t.Fatalf("status %d, want the last attempt's 503", w.Code)
				}
				mu.Lock()
				defer mu.Unlock()
				if !slices.Equal(at, tt.want) {
					t.Errorf("attempts at %v, want %v", at, tt.want)
				}
			})
		})
	}
}
