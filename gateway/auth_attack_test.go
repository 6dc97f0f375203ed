package gateway_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/jwtauth"
	"github.com/go-microkit/microkit/gateway/ratelimit"
	"github.com/go-microkit/microkit/internal/memhttp"
)

// TestBadTokenFloodGets429: with the recommended order
// [ratelimit.FailureLimit, jwtauth, ratelimit.Middleware], a flood of bad
// tokens from one address is answered 429 once its failure budget (5) is
// spent, without reaching the authenticator or the upstream; another
// address with a valid token is untouched, valid tokens never spend the
// failure budget, and the budget comes back with time. Each kind of bad
// token is one row, run on a gateway of its own in a synctest bubble, with
// the upstream in memory.
func TestBadTokenFloodGets429(t *testing.T) {
	secret := []byte("flood-test-secret-0123456789abcdef")
	sign := func(c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		tok.Header["kid"] = "k"
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The rows are signed for the instant a bubble starts at.
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name, token string
	}{
		{"garbage token", "not.a.token"},
		{"wrong signature", sign(jwt.MapClaims{"sub": "user-1", "exp": start.Add(time.Hour).Unix()})[:20] + "x.y.z"},
		{"expired token", sign(jwt.MapClaims{"sub": "user-1", "exp": start.Add(-time.Hour).Unix()})},
		{"no token", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := floodGateway(t, secret)
				valid := sign(jwt.MapClaims{"sub": "user-1", "exp": time.Now().Add(time.Hour).Unix()})
				get := func(from, token string) int {
					r := httptest.NewRequest("GET", "/api/1", nil)
					r.RemoteAddr = from + ":40000"
					if token != "" {
						r.Header.Set("Authorization", "Bearer "+token)
					}
					return serve(g, r).Code
				}
				for i := range 20 {
					want := http.StatusUnauthorized
					if i >= 6 {
						want = http.StatusTooManyRequests
					}
					if got := get("198.51.100.2", tt.token); got != want {
						t.Fatalf("bad request %d: %d, want %d", i, got, want)
					}
				}
				// Another address with a valid token is untouched, and its
				// valid requests spend nothing of its failure budget.
				for i := range 20 {
					if got := get("198.51.100.3", valid); got != http.StatusOK {
						t.Fatalf("valid request %d from another address: %d", i, got)
					}
				}
				// The attacker's budget comes back with time: one failure
				// every 12 s.
				time.Sleep(12*time.Second - time.Nanosecond)
				if got := get("198.51.100.2", valid); got != http.StatusTooManyRequests {
					t.Fatalf("a nanosecond before a failure came back: %d, want 429", got)
				}
				time.Sleep(time.Nanosecond)
				if got := get("198.51.100.2", valid); got != http.StatusOK {
					t.Fatalf("after a failure came back a valid token from the attacker's address: %d", got)
				}
			})
		})
	}
}

// floodGateway is the front door of TestBadTokenFloodGets429: five failed
// authentications a minute per address, then the authenticator, then a
// per-user limit.
func floodGateway(t *testing.T, secret []byte) *gateway.Gateway {
	t.Helper()
	keys, err := jwtauth.StaticKeys(jwtauth.Key{ID: "k", Algorithm: jwtauth.HS256, Key: secret})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := jwtauth.New(keys)
	if err != nil {
		t.Fatal(err)
	}
	failures, err := ratelimit.NewLocal(ratelimit.Rate{Requests: 5, Per: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	users, err := ratelimit.NewLocal(ratelimit.PerMinute(1000))
	if err != nil {
		t.Fatal(err)
	}
	quiet := ratelimit.WithLogger(slog.New(slog.DiscardHandler))
	failLimit, err := ratelimit.FailureLimit(failures, quiet)
	if err != nil {
		t.Fatal(err)
	}
	userLimit, err := ratelimit.Middleware(users, quiet)
	if err != nil {
		t.Fatal(err)
	}
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	return memoryGateway(t, []gateway.Route{{Path: "/api/**", Target: mustTarget(t, "http://up.test"),
		Middleware: []gateway.Middleware{failLimit, auth.Middleware(), userLimit}}}, memhttp.Hosts{"up.test": up})
}
