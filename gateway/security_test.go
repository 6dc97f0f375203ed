package gateway_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/jwtauth"
	"github.com/go-microkit/microkit/gateway/ratelimit"
)

var (
	secOnce   sync.Once
	secRSA    *rsa.PrivateKey
	secHS     = []byte("security-test-secret-0123456789abcdef")
	secIssuer = "https://idp.example"
)

// frontDoor is a shop's gateway as a real server: /api/orders/** needs a
// JWT, /api/products/** is public; both are rate-limited (per user, else
// per client IP: 3 a minute) and body-limited, behind NewServer's header
// limit. It runs on real time: its tokens are valid for an hour from
// signedAt, and a test that needs a fresh rate-limit budget makes a new
// front door.
type frontDoor struct {
	url      string
	mu       sync.Mutex
	reached  []seen // what the upstreams received
	rsaPEM   []byte
	signedAt time.Time
}

func (f *frontDoor) last() (seen, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reached) == 0 {
		return seen{}, 0
	}
	return f.reached[len(f.reached)-1], len(f.reached)
}

func newFrontDoor(t *testing.T) *frontDoor {
	t.Helper()
	secOnce.Do(func() {
		var err error
		if secRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	f := &frontDoor{signedAt: time.Now()}
	f.rsaPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustBytes(x509.MarshalPKIXPublicKey(&secRSA.PublicKey))})
	upstream := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			f.mu.Lock()
			f.reached = append(f.reached, seen{Upstream: name, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body)})
			f.mu.Unlock()
			_, _ = io.WriteString(w, name)
		}))
		t.Cleanup(s.Close)
		return s
	}
	orders, products := upstream("orders"), upstream("products")
	keys, err := jwtauth.StaticKeys(
		jwtauth.Key{ID: "hs1", Algorithm: jwtauth.HS256, Key: secHS},
		jwtauth.Key{ID: "rs1", Algorithm: jwtauth.RS256, Key: &secRSA.PublicKey},
	)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := jwtauth.New(keys, jwtauth.WithIssuer(secIssuer), jwtauth.WithAudience("shop"),
		jwtauth.WithLeeway(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	local, err := ratelimit.NewLocal(ratelimit.Rate{Requests: 3, Per: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	limit, err := ratelimit.Middleware(local, ratelimit.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New([]gateway.Route{
		{Name: "orders", Path: "/api/orders/**", Target: mustTarget(t, orders.URL), StripPrefix: "/api",
			Middleware: []gateway.Middleware{auth.Middleware(), limit, gateway.BodyLimit(1024)}},
		{Name: "products", Path: "/api/products/**", Target: mustTarget(t, products.URL), StripPrefix: "/api",
			Middleware: []gateway.Middleware{limit, gateway.BodyLimit(1024)}},
	}, gateway.WithMiddleware(gateway.RequestID(), gateway.Recover(slog.New(slog.DiscardHandler))),
		gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	srv := serveFrontDoor(t, g)
	f.url = srv.URL
	return f
}

func mustBytes(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// token signs claims for user-1 with the given method and key, after mod.
func (f *frontDoor) token(t *testing.T, m jwt.SigningMethod, kid string, key any, mod func(jwt.MapClaims)) string {
	t.Helper()
	c := jwt.MapClaims{"sub": "user-1", "iss": secIssuer, "aud": "shop", "exp": f.signedAt.Add(time.Hour).Unix()}
	if mod != nil {
		mod(c)
	}
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func algNone(sub string) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": "hs1"})
	b, _ := json.Marshal(map[string]any{"sub": sub, "iss": secIssuer, "aud": "shop", "exp": time.Now().Add(time.Hour).Unix()})
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

// rawRequest sends a request whose path goes on the wire exactly as
// written (no client-side cleaning).
func rawRequest(t *testing.T, method, base, rawPath string, h http.Header, body io.Reader) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, base+"/", body)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(rawPath, "//") {
		req.URL.Path = rawPath // an Opaque "//x" would be sent as "http://x"
	} else {
		req.URL.Opaque = rawPath
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}

// TestSecurity is the table of attacks in docs/gateway.md: each goes
// through the real gateway to real upstreams and must be answered with the
// right status, without reaching a protected upstream.
func TestSecurity(t *testing.T) {
	f := newFrontDoor(t)
	valid := f.token(t, jwt.SigningMethodHS256, "hs1", secHS, nil)
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	tests := []struct {
		name   string
		method string
		path   string
		header http.Header
		body   string
		status int
		// reached is the upstream that must have received the request,
		// "" when none may.
		reached string
	}{
		{"valid HS256 token", "GET", "/api/orders/1", bearer(valid), "", 200, "orders"},
		{"valid RS256 token", "GET", "/api/orders/1", bearer(f.token(t, jwt.SigningMethodRS256, "rs1", secRSA, nil)), "", 200, "orders"},
		{"no token", "GET", "/api/orders/1", nil, "", 401, ""},
		{"alg none", "GET", "/api/orders/1", bearer(algNone("user-1")), "", 401, ""},
		{"HS256 signed with the RS256 public key", "GET", "/api/orders/1", bearer(f.token(t, jwt.SigningMethodHS256, "rs1", f.rsaPEM, nil)), "", 401, ""},
		{"expired", "GET", "/api/orders/1", bearer(f.token(t, jwt.SigningMethodHS256, "hs1", secHS, func(c jwt.MapClaims) { c["exp"] = f.signedAt.Add(-time.Minute).Unix() })), "", 401, ""},
		{"not yet valid", "GET", "/api/orders/1", bearer(f.token(t, jwt.SigningMethodHS256, "hs1", secHS, func(c jwt.MapClaims) { c["nbf"] = f.signedAt.Add(24 * time.Hour).Unix() })), "", 401, ""},
		{"wrong issuer", "GET", "/api/orders/1", bearer(f.token(t, jwt.SigningMethodHS256, "hs1", secHS, func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), "", 401, ""},
		{"wrong audience", "GET", "/api/orders/1", bearer(f.token(t, jwt.SigningMethodHS256, "hs1", secHS, func(c jwt.MapClaims) { c["aud"] = "admin" })), "", 401, ""},
		{"unknown kid", "GET", "/api/orders/1", bearer(f.token(t, jwt.SigningMethodHS256, "hs9", secHS, nil)), "", 401, ""},
		{"tampered payload", "GET", "/api/orders/1", bearer(tamper(valid)), "", 401, ""},
		{"non-canonical signature", "GET", "/api/orders/1", bearer(flipUnusedBits(valid)), "", 401, ""},
		{"path traversal from the public route", "GET", "/api/products/../orders/1", nil, "", 401, ""},
		{"encoded dot segments", "GET", "/api/products/%2e%2e/orders/1", nil, "", 401, ""},
		{"double-encoded dot segments", "GET", "/api/products/%252e%252e/orders/1", nil, "", 400, ""},
		{"encoded slash", "GET", "/api/products/..%2forders/1", nil, "", 400, ""},
		{"backslash", "GET", "/api/products/..\\orders/1", nil, "", 400, ""},
		{"dot-dot-semicolon", "GET", "/api/products/..;/orders/1", nil, "", 400, ""},
		{"doubled slashes", "GET", "//api//orders/1", nil, "", 401, ""},
		{"oversized headers", "GET", "/api/products/1", http.Header{"X-Big": {strings.Repeat("x", 32<<10)}}, "", 431, ""},
		{"oversized body", "POST", "/api/orders/1", bearer(valid), strings.Repeat("x", 2048), 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFrontDoor(t) // a fresh rate-limit budget
			_, before := f.last()
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			status, h := rawRequest(t, tt.method, f.url, tt.path, tt.header, body)
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			if status == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer ") {
				t.Fatalf("401 without a Bearer challenge: %q", h.Get("WWW-Authenticate"))
			}
			got, after := f.last()
			if tt.reached == "" && after != before {
				t.Fatalf("the request reached %s %s", got.Upstream, got.Path)
			}
			if tt.reached != "" && (after != before+1 || got.Upstream != tt.reached) {
				t.Fatalf("upstream %q was not reached", tt.reached)
			}
		})
	}
}

// flipUnusedBits changes the unused low bit of the last base64url
// character of a 32-byte signature (43 characters, 2 unused bits): the same
// signature bytes, spelled non-canonically.
func flipUnusedBits(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(alphabet[i^1])
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	b = []byte(strings.Replace(string(b), "user-1", "admin1", 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// TestForgedSubjectHeader: a client's X-Auth-Subject never reaches an
// upstream, on a public route or behind auth, where the upstream sees the
// verified subject instead.
func TestForgedSubjectHeader(t *testing.T) {
	f := newFrontDoor(t)
	valid := f.token(t, jwt.SigningMethodHS256, "hs1", secHS, nil)
	for _, c := range []struct {
		path, auth, want string
	}{
		{"/api/products/1", "", ""},
		{"/api/orders/1", "Bearer " + valid, "user-1"},
	} {
		// Listing the header in Connection must not make the proxy drop
		// the verified subject as hop-by-hop either.
		// Nor may a spelling with underscores, which CGI-style upstreams
		// (PHP, WSGI, Rack) read as the same HTTP_X_AUTH_SUBJECT.
		h := http.Header{"X-Auth-Subject": {"admin"}, "x-auth-subject": {"root"}, "Connection": {"keep-alive, X-Auth-Subject"},
			"X_Auth_Subject": {"admin"}, "x-auth_subject": {"root"}}
		if c.auth != "" {
			h.Set("Authorization", c.auth)
		}
		status, _ := rawRequest(t, "GET", f.url, c.path, h, nil)
		got, _ := f.last()
		if status != 200 || strings.Join(got.Header.Values("X-Auth-Subject"), ",") != c.want {
			t.Fatalf("%s: status %d, upstream saw subject %q, want %q", c.path, status, got.Header.Values("X-Auth-Subject"), c.want)
		}
		for k, v := range got.Header {
			if k != "X-Auth-Subject" && strings.EqualFold(strings.ReplaceAll(k, "_", "-"), "X-Auth-Subject") {
				t.Fatalf("%s: upstream saw %s: %q", c.path, k, v)
			}
		}
	}
}

// TestSpoofedForwardedForCannotDodgeTheLimit: the limit of 3 a minute per
// client IP holds however X-Forwarded-For is set, since the gateway trusts
// no proxy here; users get budgets of their own.
func TestSpoofedForwardedForCannotDodgeTheLimit(t *testing.T) {
	f := newFrontDoor(t)
	for i := range 4 {
		h := http.Header{"X-Forwarded-For": {"203.0.113." + string(rune('1'+i))}, "Forwarded": {"for=198.51.100.1"}}
		status, hdr := rawRequest(t, "GET", f.url, "/api/products/1", h, nil)
		want := 200
		if i == 3 {
			want = 429
		}
		if status != want {
			t.Fatalf("request %d with a new X-Forwarded-For: %d, want %d", i, status, want)
		}
		if want == 429 && (hdr.Get("Retry-After") != "20" || hdr.Get("RateLimit-Remaining") != "0") {
			t.Fatalf("429 headers %v", hdr)
		}
	}
	// Authenticated users are keyed by subject, not by the shared IP.
	for _, sub := range []string{"user-1", "user-2"} {
		tok := f.token(t, jwt.SigningMethodHS256, "hs1", secHS, func(c jwt.MapClaims) { c["sub"] = sub })
		for i := range 4 {
			status, _ := rawRequest(t, "GET", f.url, "/api/orders/1", http.Header{"Authorization": {"Bearer " + tok}}, nil)
			want := 200
			if i == 3 {
				want = 429
			}
			if status != want {
				t.Fatalf("%s request %d: %d, want %d", sub, i, status, want)
			}
		}
	}
}
