package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/internal/memhttp"
)

func breakers(t *testing.T) gateway.Breakers {
	t.Helper()
	set, err := breaker.NewSet("gateway", 64, breaker.WithConsecutiveFailures(3), breaker.WithOpenDuration(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b, err := gateway.BreakerSet(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDeadUpstreamOpensBreaker: after three failures the breaker of the
// dead upstream opens and the gateway answers 503 at once, without trying
// the upstream; after the open duration a probe finds it healthy again.
// The upstreams are served in memory so that the open duration passes in a
// synctest bubble.
func TestDeadUpstreamOpensBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var healthy atomic.Bool
		var calls atomic.Int64
		up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			if !healthy.Load() {
				w.WriteHeader(http.StatusInternalServerError)
			}
		})
		g := memoryGateway(t, []gateway.Route{
			{Name: "orders", Path: "/orders", Target: mustTarget(t, "http://orders.test"), Breakers: breakers(t)},
			{Name: "dead", Path: "/dead", Target: mustTarget(t, "http://dead.test"), Breakers: breakers(t)},
		}, memhttp.Hosts{"orders.test": up})
		get := func(path string) *httptest.ResponseRecorder {
			return serve(g, httptest.NewRequest("GET", path, nil))
		}
		for i := range 3 {
			if w := get("/orders"); w.Code != 500 {
				t.Fatalf("request %d: %d, want the upstream's 500", i, w.Code)
			}
			if w := get("/dead"); w.Code != 502 {
				t.Fatalf("dead request %d: %d, want 502", i, w.Code)
			}
		}
		for _, path := range []string{"/orders", "/dead"} {
			w := get(path)
			e := decodeError(t, w.Body.Bytes())
			if w.Code != 503 || e.Code != gateway.CodeUpstreamUnavailable {
				t.Fatalf("%s with the breaker open: %d %+v", path, w.Code, e)
			}
			if ra, _ := strconv.Atoi(w.Header().Get("Retry-After")); ra != 30 { // the open duration
				t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
			}
		}
		if calls.Load() != 3 {
			t.Fatalf("upstream called %d times, want 3: the open breaker must not call it", calls.Load())
		}
		healthy.Store(true)
		time.Sleep(30*time.Second - time.Nanosecond)
		if w := get("/orders"); w.Code != 503 {
			t.Fatalf("a nanosecond before the open duration ends: %d, want 503", w.Code)
		}
		time.Sleep(time.Nanosecond)
		if w := get("/orders"); w.Code != 200 {
			t.Fatalf("half-open probe: %d", w.Code)
		}
		if _, err := gateway.BreakerSet(nil); !errors.Is(err, gateway.ErrInvalidOption) {
			t.Fatal("nil set accepted")
		}
	})
}

// TestBreakerIgnores4xx: a client error is a success of the upstream.
func TestBreakerIgnores4xx(t *testing.T) {
	var calls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(up.Close)
	gw := mustGateway(t, []gateway.Route{{Path: "/x", Target: mustTarget(t, up.URL), Breakers: breakers(t)}})
	for range 10 {
		if status, _, _ := do(t, "GET", gw.URL+"/x", nil, nil); status != 404 {
			t.Fatalf("status %d", status)
		}
	}
	if calls.Load() != 10 {
		t.Fatalf("404s opened the breaker: %d calls", calls.Load())
	}
}

// TestClientCancelDoesNotOpenBreaker: clients that give up say nothing
// about the upstream, however many do.
func TestClientCancelDoesNotOpenBreaker(t *testing.T) {
	arrived := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			arrived <- struct{}{}
			<-r.Context().Done()
		}
	}))
	t.Cleanup(up.Close)
	gw := mustGateway(t, []gateway.Route{{Path: "/**", Target: mustTarget(t, up.URL), Breakers: breakers(t)}})
	for range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", gw.URL+"/hang", nil)
		errc := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		<-arrived // the upstream has the request
		cancel()
		if err := <-errc; err == nil {
			t.Fatal("canceled request succeeded")
		}
	}
	if status, _, _ := do(t, "GET", gw.URL+"/ok", nil, nil); status != 200 {
		t.Fatalf("after 5 client cancellations: %d, want the breaker still closed", status)
	}
}
