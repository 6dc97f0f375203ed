package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/ratelimit"
)

func TestLocalHundredPerMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := ratelimit.NewLocal(ratelimit.PerMinute(100))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		// Over a simulated ten minutes, one request every 100 ms: 6000
		// attempts, of which the bucket admits its burst of 100 plus one per
		// 600 ms.
		allowed := 0
		for i := 0; i < 6000; i++ {
			d, _ := l.Allow(ctx, "user:ada")
			if d.Allowed {
				allowed++
			}
			time.Sleep(100 * time.Millisecond)
		}
		if want := 100 + 6000*100/600 - 1; allowed < want || allowed > want+1 {
			t.Fatalf("allowed %d of 6000 in 10 minutes, want %d (100 burst + 1 per 600ms)", allowed, want)
		}
		// Within any one minute after the burst, at most 100.
		time.Sleep(time.Hour)
		steps := []struct {
			advance   time.Duration
			n         int
			allowed   int
			remaining int
			retry     time.Duration
		}{
			{0, 100, 100, 0, 0},
			{0, 1, 0, 0, 600 * time.Millisecond},
			{300 * time.Millisecond, 1, 0, 0, 300 * time.Millisecond},
			{300 * time.Millisecond, 1, 1, 0, 0},
			{time.Minute, 1, 1, 99, 0},
		}
		for i, s := range steps {
			time.Sleep(s.advance)
			var last ratelimit.Decision
			got := 0
			for range s.n {
				last, _ = l.Allow(ctx, "user:bob")
				if last.Allowed {
					got++
				}
			}
			if got != s.allowed || last.Remaining != s.remaining || last.RetryAfter != s.retry || last.Limit != 100 {
				t.Fatalf("step %d: allowed %d remaining %d retry %v limit %d; want %d %d %v", i, got, last.Remaining, last.RetryAfter, last.Limit, s.allowed, s.remaining, s.retry)
			}
		}
		if d, _ := l.Allow(ctx, "user:carol"); !d.Allowed || d.Remaining != 99 {
			t.Fatalf("another key shares the budget: %+v", d)
		}
	})
}

func TestLocalEviction(t *testing.T) {
	l, _ := ratelimit.NewLocal(ratelimit.Rate{Requests: 10, Per: time.Second}, ratelimit.WithMaxKeys(50))
	start := time.Now() // AllowAt takes the instants: no clock moves
	for i := range 200 {
		l.AllowAt(fmt.Sprint("k", i), start)
	}
	if n := l.Len(); n > 50 {
		t.Fatalf("%d keys held, max 50", n)
	}
	l.AllowAt("fresh", start.Add(time.Second)) // a full refill: every bucket is idle and full
	if n := l.Len(); n != 1 {
		t.Fatalf("%d keys after idle sweep, want 1", n)
	}
}

func TestRateValidate(t *testing.T) {
	for _, r := range []ratelimit.Rate{{}, {Requests: 1}, {Per: time.Second}, {Requests: 1, Per: time.Second, Burst: -1}, {Requests: 1 << 30, Per: time.Millisecond}} {
		if _, err := ratelimit.NewLocal(r); !errors.Is(err, ratelimit.ErrInvalidOption) {
			t.Errorf("NewLocal(%+v) error = %v", r, err)
		}
	}
	if _, err := ratelimit.Middleware(nil); !errors.Is(err, ratelimit.ErrInvalidOption) {
		t.Error("nil limiter accepted")
	}
}

// broken is a limiter whose store is down.
type broken struct{}

func (broken) Allow(context.Context, string) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, errors.New("store down")
}

func TestMiddleware(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, _ := ratelimit.NewLocal(ratelimit.Rate{Requests: 2, Per: time.Minute})
		trusted, _ := gateway.NewClientIP("10.0.0.0/8")
		mw, err := ratelimit.Middleware(l, ratelimit.WithKeyFunc(ratelimit.BySubjectOrClientIP(trusted)))
		if err != nil {
			t.Fatal(err)
		}
		h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		req := func(remote, xff, subject string) *httptest.ResponseRecorder {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = remote + ":1234"
			if xff != "" {
				r.Header.Set("X-Forwarded-For", xff)
			}
			if subject != "" {
				r = r.WithContext(gateway.ContextWithSubject(r.Context(), subject))
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w
		}
		tests := []struct {
			name               string
			remote, xff, sub   string
			status             int
			remaining, retryIn string
		}{
			{"first from an untrusted peer", "198.51.100.1", "", "", 200, "1", ""},
			{"spoofed XFF from the same peer shares its budget", "198.51.100.1", "203.0.113.5", "", 200, "0", ""},
			{"third is limited", "198.51.100.1", "203.0.113.6", "", 429, "0", "30"},
			{"a user has a budget of its own", "198.51.100.1", "", "ada", 200, "1", ""},
			{"through a trusted proxy, the real client counts", "10.0.0.2", "203.0.113.7", "", 200, "1", ""},
			{"proxy chain: first untrusted from the right", "10.0.0.2", "198.51.100.1, 10.0.0.3", "", 429, "0", "30"},
			{"IPv6 host", "[2001:db8:1:2::1]", "", "", 200, "1", ""},
			{"same /64, other address: same budget", "[2001:db8:1:2::ffff]", "", "", 200, "0", ""},
			{"same /64 again: limited", "[2001:db8:1:2:aaaa::1]", "", "", 429, "0", "30"},
			{"other /64: a budget of its own", "[2001:db8:1:3::1]", "", "", 200, "1", ""},
		}
		for _, tt := range tests {
			w := req(tt.remote, tt.xff, tt.sub)
			if w.Code != tt.status || w.Header().Get("RateLimit-Remaining") != tt.remaining || w.Header().Get("Retry-After") != tt.retryIn ||
				w.Header().Get("RateLimit-Limit") != "2" {
				t.Fatalf("%s: %d remaining %q retry %q limit %q", tt.name, w.Code, w.Header().Get("RateLimit-Remaining"), w.Header().Get("Retry-After"), w.Header().Get("RateLimit-Limit"))
			}
		}

		quiet := ratelimit.WithLogger(slog.New(slog.DiscardHandler))
		open, _ := ratelimit.Middleware(broken{}, quiet)
		closed, _ := ratelimit.Middleware(broken{}, quiet, ratelimit.WithFailClosed())
		for _, c := range []struct {
			mw     gateway.Middleware
			status int
		}{{open, 200}, {closed, 503}} {
			w := httptest.NewRecorder()
			c.mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
			if w.Code != c.status {
				t.Fatalf("limiter down: %d, want %d", w.Code, c.status)
			}
		}
	})
}

func Example() {
	limiter, _ := ratelimit.NewLocal(ratelimit.Rate{Requests: 2, Per: time.Minute})
	mw, _ := ratelimit.Middleware(limiter) // per user, else per client IP
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for range 3 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/api/products", nil))
		fmt.Printf("%d remaining=%s retry-after=%q\n", w.Code, w.Header().Get("RateLimit-Remaining"), w.Header().Get("Retry-After"))
	}
	// Output:
	// 200 remaining=1 retry-after=""
	// 200 remaining=0 retry-after=""
	// 429 remaining=0 retry-after="30"
}

func TestFailureLimitOptions(t *testing.T) {
	if _, err := ratelimit.FailureLimit(nil); !errors.Is(err, ratelimit.ErrInvalidOption) {
		t.Fatalf("nil limiter: %v", err)
	}
	l, _ := ratelimit.NewLocal(ratelimit.PerMinute(1))
	// A nil argument to an option means the default: keyed by client
	// address, so one address's second failure within the minute gets 429.
	mw, err := ratelimit.FailureLimit(l, ratelimit.WithKeyFunc(nil), ratelimit.WithLogger(nil))
	if err != nil {
		t.Fatalf("nil key func and logger: %v", err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	var codes []int
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		codes = append(codes, rec.Code)
	}
	if want := []int{401, 401, 429}; !slices.Equal(codes, want) && !slices.Equal(codes, []int{401, 429, 429}) {
		t.Fatalf("codes %v, want one address limited after its failures", codes)
	}
}
