package gateway_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/gateway"
)

// clientAttack is one way a client can break or abandon its own request.
type clientAttack struct {
	name string
	// request is written as it is; then, after is done: "" nothing,
	// "half-close" (the client shuts its sending side), "close" (the
	// client hangs up), "silence" (the client sends nothing more).
	request, after string
	// status is the answer; zero when the client cannot read one.
	status int
	// reaches says whether the request gets as far as an upstream
	// attempt (so an outcome is reported for it).
	reaches bool
}

// clientAttacks are the request framings that can fail on the client's
// side. None may count against the upstream; a new one is one row.
var clientAttacks = []clientAttack{
	{"malformed chunk size", "GET /api/products/1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", "", 400, true},
	{"malformed chunk size on POST", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nxyz\r\n", "", 400, true},
	{"chunk longer than its size", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", "", 400, true},
	{"chunk size overflow", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nabc\r\n0\r\n\r\n", "", 400, true},
	{"chunk missing its line end", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc", "half-close", 400, true},
	{"declared body over the limit", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 2048\r\n\r\n" + strings.Repeat("x", 2048), "", 413, false},
	{"chunked body over the limit", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + strings.Repeat("x", 2048) + "\r\n0\r\n\r\n", "", 413, true},
	{"2 MiB chunked body", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n" + strings.Repeat("x", 2<<20) + "\r\n0\r\n\r\n", "", 413, true},
	{"2 MiB declared body", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: " + strconv.Itoa(2<<20) + "\r\n\r\n" + strings.Repeat("x", 2<<20), "", 413, false},
	{"body shorter than Content-Length, then half-close", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\nabc", "half-close", 400, true},
	{"chunked body cut short, then half-close", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\na\r\nabc", "half-close", 400, true},
	{"body shorter than Content-Length, then hang-up", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\nabc", "close", 0, true},
	{"slow body", "POST /api/users/login HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\na", "silence", 408, true},
	{"slow chunked body", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n", "silence", 408, true},
	{"slow body on GET", "GET /api/products/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\n", "silence", 408, true},
	{"expect 100-continue, then no body", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n", "silence", 408, true},
	{"two different Content-Lengths", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "", 400, false},
	{"bad Content-Length", "POST /api/products/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 1x\r\n\r\nabc", "", 400, false},
	{"cancelled request", "GET /api/products/slow HTTP/1.1\r\nHost: gw\r\n\r\n", "close", 0, true},
}

// TestClientFaultsNeverCountAgainstTheUpstream: every way a client can
// break, slow down or abandon its own request gets its own answer (400,
// 408, 413; 499 in the log) and is never counted against the upstream: the
// breaker (opened by a single counted failure) stays closed, the target's
// outcome is "no news", and nothing is retried.
func TestClientFaultsNeverCountAgainstTheUpstream(t *testing.T) {
	const bodyTimeout = 300 * time.Millisecond
	a := newAttackGateway(t, bodyTimeout, func(r *gateway.Route) {
		r.Path = "/api/**"
	})
	for _, tt := range clientAttacks {
		t.Run(tt.name, func(t *testing.T) {
			reported, _, _ := a.o.snapshot()
			c := dialRaw(t, a.addr)
			c.send(tt.request)
			switch tt.after {
			case "half-close":
				_ = c.conn.CloseWrite()
			case "close":
				if strings.Contains(tt.request, "/slow") {
					<-a.slowHit
				}
				_ = c.conn.Close()
			}
			if tt.status != 0 {
				resp, body := c.response()
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
				}
				if resp.StatusCode >= 400 && tt.reaches {
					var e gateway.ErrorBody
					if err := json.Unmarshal(body, &e); err != nil || e.Error.Status != tt.status {
						t.Fatalf("not a gateway error body: %s", body)
					}
					if !c.closedByPeer() {
						t.Fatal("connection left open after a broken request body")
					}
				}
			}
			if tt.reaches {
				a.o.waitReported(t, reported+1)
			}
			after, counted, _ := a.o.snapshot()
			if len(counted) != 0 {
				t.Fatalf("counted against the upstream: %v", counted)
			}
			if tt.reaches && after != reported+1 || !tt.reaches && after != reported {
				// Each attempt reports once: more is a retry.
				t.Fatalf("%d attempts, want %d", after-reported, map[bool]int{true: 1}[tt.reaches])
			}
		})
	}
	// The breaker, which one counted failure opens, is still closed.
	c := dialRaw(t, a.addr)
	c.send("GET /api/products/1 HTTP/1.1\r\nHost: gw\r\n\r\n")
	if resp, body := c.response(); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the attacks a good request got %d: %s", resp.StatusCode, body)
	}
	a.o.waitLogged(t, `"status":499`)
}

// TestBodyReadTimeoutIsAPolicy: the body read timeout is the gateway's
// (WithBodyReadTimeout) unless a route widens it (Route.BodyReadTimeout,
// for uploads): the same slow body gets 408 on one route and through on the
// other. Negative values are invalid.
func TestBodyReadTimeoutIsAPolicy(t *testing.T) {
	up := echoUpstream(t, "up")
	target := mustTarget(t, up.URL)
	g, err := gateway.New([]gateway.Route{
		{Path: "/api/**", Target: target},
		{Path: "/upload/**", Target: target, BodyReadTimeout: time.Minute},
	}, gateway.WithBodyReadTimeout(50*time.Millisecond), gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveFrontDoor(t, g).Listener.Addr().String()
	for path, want := range map[string]int{"/api/1": http.StatusRequestTimeout, "/upload/1": http.StatusOK} {
		c := dialRaw(t, addr)
		c.send("POST " + path + " HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\n\r\nab")
		// Well past the gateway's 50 ms, well within the route's minute.
		time.Sleep(500 * time.Millisecond)
		_, _ = c.conn.Write([]byte("cd"))
		if resp, body := c.response(); resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d: %s", path, resp.StatusCode, want, body)
		}
	}
	if _, err := gateway.New(nil, gateway.WithBodyReadTimeout(-time.Second)); !errors.Is(err, gateway.ErrInvalidOption) {
		t.Errorf("negative WithBodyReadTimeout: %v", err)
	}
	if err := (gateway.Route{Path: "/a", Target: target, BodyReadTimeout: -time.Second}).Validate(); !errors.Is(err, gateway.ErrInvalidOption) {
		t.Errorf("negative Route.BodyReadTimeout: %v", err)
	}
}
