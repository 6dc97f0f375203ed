package gateway_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/jwtauth"
	"github.com/go-microkit/microkit/gateway/ratelimit"
	"github.com/go-microkit/microkit/internal/testclock"
)

// clientFrom returns an HTTP client whose connections come from the
// loopback address local, so that one test can be several client IPs.
func clientFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}}
}

// TestBadTokenFloodGets429: with the recommended order
// [ratelimit.FailureLimit, jwtauth, ratelimit.Middleware], a flood of bad
// tokens from one address is answered 429 once its failure budget (5) is
// spent, without reaching the authenticator or the upstream; another
// address with a valid token is untouched, and valid tokens never spend
// the failure budget. Each kind of bad token is one row.
func TestBadTokenFloodGets429(t *testing.T) {
	clock := testclock.New()
	secret := []byte("flood-test-secret-0123456789abcdef")
	keys, err := jwtauth.StaticKeys(jwtauth.Key{ID: "k", Algorithm: jwtauth.HS256, Key: secret})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := jwtauth.New(keys, jwtauth.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	failures, err := ratelimit.NewLocal(ratelimit.Rate{Requests: 5, Per: time.Minute}, ratelimit.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	users, err := ratelimit.NewLocal(ratelimit.PerMinute(1000), ratelimit.WithClock(clock))
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
	up := echoUpstream(t, "up")
	g, err := gateway.New([]gateway.Route{{Path: "/api/**", Target: mustTarget(t, up.URL),
		Middleware: []gateway.Middleware{failLimit, auth.Middleware(), userLimit}}},
		gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	sign := func(c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		tok.Header["kid"] = "k"
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	get := func(c *http.Client, token string) int {
		req, _ := http.NewRequest("GET", srv.URL+"/api/1", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct {
		name, token string
	}{
		{"garbage token", "not.a.token"},
		{"wrong signature", sign(jwt.MapClaims{"sub": "user-1", "exp": clock.Now().Add(time.Hour).Unix()})[:20] + "x.y.z"},
		{"expired token", sign(jwt.MapClaims{"sub": "user-1", "exp": clock.Now().Add(-time.Hour).Unix()})},
		{"no token", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock.Advance(time.Hour) // a fresh failure budget
			valid := sign(jwt.MapClaims{"sub": "user-1", "exp": clock.Now().Add(time.Hour).Unix()})
			attacker := clientFrom("127.0.0.2")
			for i := range 20 {
				want := http.StatusUnauthorized
				if i >= 6 {
					want = http.StatusTooManyRequests
				}
				if got := get(attacker, tt.token); got != want {
					t.Fatalf("bad request %d: %d, want %d", i, got, want)
				}
			}
			// Another address with a valid token is untouched, and its
			// valid requests spend nothing of its failure budget.
			user := clientFrom("127.0.0.3")
			for i := range 20 {
				if got := get(user, valid); got != http.StatusOK {
					t.Fatalf("valid request %d from another address: %d", i, got)
				}
			}
			// The attacker's budget comes back with time.
			clock.Advance(time.Minute)
			if got := get(attacker, valid); got != http.StatusOK {
				t.Fatalf("after a minute a valid token from the attacker's address: %d", got)
			}
		})
	}
}
