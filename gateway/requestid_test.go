package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/gateway"
)

// An upstream that runs RequestID itself echoes the gateway's id; one that
// answers CORS itself sends the same headers the gateway's CORS set. Every
// one of them reaches the client once, with the gateway's value; Vary and
// Set-Cookie keep what both sides said.
func TestResponseHeadersTheGatewaySetAreNotRepeated(t *testing.T) {
	upstream := httptest.NewServer(gateway.RequestID()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Vary", "Accept-Encoding")
		h.Add("Set-Cookie", "up=1")
		h.Set("X-Upstream", "yes")
		_, _ = w.Write([]byte("ok"))
	})))
	t.Cleanup(upstream.Close)
	cors, err := gateway.CORS(gateway.CORSConfig{AllowedOrigins: []string{"https://shop.example"}})
	if err != nil {
		t.Fatal(err)
	}
	cookie := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Set-Cookie", "gw=1")
			next.ServeHTTP(w, r)
		})
	}
	gw := mustGateway(t, []gateway.Route{{Name: "api", Path: "/api/**", Target: mustTarget(t, upstream.URL)}},
		gateway.WithMiddleware(gateway.RequestID(), cors, cookie))

	tests := []struct {
		name     string
		clientID string
	}{
		{"id made by the gateway", ""},
		{"id sent by the client", "client-id-1"},
		{"client id the gateway replaces", "bad id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Origin": {"https://shop.example"}}
			if tt.clientID != "" {
				h.Set(gateway.RequestIDHeader, tt.clientID)
			}
			status, got, _ := do(t, "GET", gw.URL+"/api/x", h, nil)
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			ids := got.Values(gateway.RequestIDHeader)
			if len(ids) != 1 {
				t.Fatalf("X-Request-Id %q, want exactly one", ids)
			}
			if tt.clientID == "client-id-1" && ids[0] != tt.clientID {
				t.Errorf("X-Request-Id %q, want the client's %q", ids[0], tt.clientID)
			}
			if v := got.Values("Access-Control-Allow-Origin"); len(v) != 1 || v[0] != "https://shop.example" {
				t.Errorf("Access-Control-Allow-Origin %q, want the gateway's one value", v)
			}
			if v := strings.Join(got.Values("Vary"), ","); !strings.Contains(v, "Origin") || !strings.Contains(v, "Accept-Encoding") {
				t.Errorf("Vary %q, want both sides' values", v)
			}
			if v := strings.Join(got.Values("Set-Cookie"), ","); v != "gw=1,up=1" {
				t.Errorf("Set-Cookie %q, want both sides' cookies", v)
			}
			if got.Get("X-Upstream") != "yes" {
				t.Errorf("the upstream's own header was lost")
			}
		})
	}
}

// Generated ids are 16 hex digits of fresh randomness: nothing in one
// tells how many requests came before it. Over many ids every bit is set
// about half the time; a counter (or a fixed prefix) leaves high bits
// fixed. The bounds are 9.5 standard deviations wide, so the test cannot
// fail by chance in practice.
func TestRequestIDsAreRandom(t *testing.T) {
	h := gateway.RequestID()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	const n = 1000
	var ones [64]int
	seen := make(map[string]bool, n)
	for range n {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		id := w.Header().Get(gateway.RequestIDHeader)
		if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("id %q, want 16 lowercase hex digits", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
		for i := range 16 {
			d := strings.IndexByte("0123456789abcdef", id[i])
			for b := range 4 {
				if d&(1<<b) != 0 {
					ones[i*4+b]++
				}
			}
		}
	}
	for bit, c := range ones {
		if c < 350 || c > 650 {
			t.Errorf("bit %d set in %d of %d ids: not random", bit, c, n)
		}
	}
}

// A client's id is kept only when it is a plain label; anything else is
// replaced by a fresh random id, on the request forwarded upstream and on
// the response alike.
func TestRequestIDFromUntrustedClient(t *testing.T) {
	up := echoUpstream(t, "up")
	gw := mustGateway(t, []gateway.Route{{Name: "api", Path: "/api/**", Target: mustTarget(t, up.URL)}},
		gateway.WithMiddleware(gateway.RequestID()))
	tests := []struct {
		name string
		in   string
		keep bool
	}{
		{"plain label", "order-42.retry_1", true},
		{"64 characters", strings.Repeat("a", 64), true},
		{"65 characters", strings.Repeat("a", 65), false},
		{"space", "a b", false},
		{"log forging", "a\u2028INFO forged", false},
		{"header separator", "a,b", false},
		{"quote", `a"b`, false},
		{"slash", "a/b", false},
		{"non-ASCII", "ид", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := do(t, "GET", gw.URL+"/api/x", http.Header{gateway.RequestIDHeader: {tt.in}}, nil)
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			got := h.Get(gateway.RequestIDHeader)
			forwarded := decodeSeen(t, body).Header.Values(gateway.RequestIDHeader)
			if len(forwarded) != 1 || forwarded[0] != got {
				t.Fatalf("forwarded %q, answered %q", forwarded, got)
			}
			if tt.keep {
				if got != tt.in {
					t.Fatalf("id %q, want the client's %q", got, tt.in)
				}
				return
			}
			if len(got) != 16 || strings.Trim(got, "0123456789abcdef") != "" {
				t.Fatalf("id %q, want a fresh 16-hex id", got)
			}
		})
	}
}
