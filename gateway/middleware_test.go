package gateway_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/internal/memhttp"
)

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) gateway.Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	h := gateway.Chain(mw("a"), mw("b"), mw("c"))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { order = append(order, "h") }))
	serve(h, httptest.NewRequest("GET", "/", nil))
	if strings.Join(order, "") != "abch" {
		t.Fatalf("order %v", order)
	}
}

func TestRequestID(t *testing.T) {
	var got string
	h := gateway.RequestID()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = gateway.RequestIDFromContext(r.Context())
		if r.Header.Get(gateway.RequestIDHeader) != got {
			t.Errorf("header %q, context %q", r.Header.Get(gateway.RequestIDHeader), got)
		}
	}))
	tests := []struct {
		in   string
		keep bool
	}{{"abc-123", true}, {"", false}, {"bad id\nx", false}, {strings.Repeat("a", 65), false}}
	ids := map[string]bool{}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.in != "" {
			r.Header.Set(gateway.RequestIDHeader, tt.in)
		}
		w := serve(h, r)
		if w.Header().Get(gateway.RequestIDHeader) != got || got == "" {
			t.Fatalf("response id %q, context id %q", w.Header().Get(gateway.RequestIDHeader), got)
		}
		if (got == tt.in) != tt.keep {
			t.Fatalf("in %q: got %q", tt.in, got)
		}
		if ids[got] {
			t.Fatalf("id %q repeated", got)
		}
		ids[got] = true
	}
}

// TestAccessLog logs one line per request with the time it took, exactly,
// in a synctest bubble.
func TestAccessLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&buf, nil))
		up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(1500 * time.Millisecond)
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write([]byte("tea"))
		})
		g := memoryGateway(t, []gateway.Route{{Name: "tea", Path: "/tea", Target: mustTarget(t, "http://tea.test")}},
			memhttp.Hosts{"tea.test": up}, gateway.WithMiddleware(gateway.RequestID(), gateway.AccessLog(logger)))
		r := httptest.NewRequest("GET", "/tea", nil)
		r.Header.Set("X-Request-Id", "r1")
		serve(g, r)
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("log %q: %v", buf.String(), err)
		}
		want := map[string]any{"msg": "request", "method": "GET", "path": "/tea", "route": "tea", "status": 418.0, "bytes": 3.0, "duration": 1.5e9, "request_id": "r1"}
		for k, v := range want {
			if line[k] != v {
				t.Errorf("log %s = %v, want %v", k, line[k], v)
			}
		}
	})
}

func TestRecover(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	h := gateway.Recover(logger)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	w := serve(h, httptest.NewRequest("GET", "/p", nil))
	if w.Code != 500 || decodeError(t, w.Body.Bytes()).Code != gateway.CodeInternal {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	if !strings.Contains(buf.String(), "boom") || !strings.Contains(buf.String(), "stack") {
		t.Fatalf("log %q", buf.String())
	}
	abort := gateway.Recover(logger)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler { //nolint:errorlint
				t.Fatalf("recovered %v, want ErrAbortHandler re-raised", v)
			}
		}()
		serve(abort, httptest.NewRequest("GET", "/", nil))
	}()
}

func TestHeaderLimit(t *testing.T) {
	h := gateway.HeaderLimit(1024)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Small", "1")
	if w := serve(h, r); w.Code != 200 {
		t.Fatalf("small headers: %d", w.Code)
	}
	r.Header.Set("X-Big", strings.Repeat("x", 2048))
	if w := serve(h, r); w.Code != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("big headers: %d", w.Code)
	}
}

func TestCORS(t *testing.T) {
	mw, err := gateway.CORS(gateway.CORSConfig{
		AllowedOrigins: []string{"https://shop.example"}, AllowedMethods: []string{"GET", "POST"},
		AllowedHeaders: []string{"Authorization"}, ExposedHeaders: []string{"X-Request-Id"},
		AllowCredentials: true, MaxAge: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }))
	tests := []struct {
		name, method, origin, reqMethod, reqHeaders string
		status                                      int
		allowOrigin                                 string
	}{
		{"same origin", "GET", "", "", "", 299, ""},
		{"allowed simple", "GET", "https://shop.example", "", "", 299, "https://shop.example"},
		{"other origin simple", "GET", "https://evil.example", "", "", 299, ""},
		{"preflight ok", "OPTIONS", "https://shop.example", "POST", "authorization, content-type", 204, "https://shop.example"},
		{"preflight bad method", "OPTIONS", "https://shop.example", "DELETE", "", 403, "https://shop.example"},
		{"preflight bad header", "OPTIONS", "https://shop.example", "GET", "X-Admin", 403, "https://shop.example"},
		{"preflight other origin", "OPTIONS", "https://evil.example", "GET", "", 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/", nil)
			for k, v := range map[string]string{"Origin": tt.origin, "Access-Control-Request-Method": tt.reqMethod, "Access-Control-Request-Headers": tt.reqHeaders} {
				if v != "" {
					r.Header.Set(k, v)
				}
			}
			w := serve(h, r)
			if w.Code != tt.status || w.Header().Get("Access-Control-Allow-Origin") != tt.allowOrigin {
				t.Fatalf("got %d, allow origin %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
			}
			if tt.status == 204 && (w.Header().Get("Access-Control-Max-Age") != "600" || w.Header().Get("Access-Control-Allow-Credentials") != "true") {
				t.Fatalf("preflight headers %v", w.Header())
			}
		})
	}
	for _, bad := range []gateway.CORSConfig{{AllowedOrigins: []string{"*"}, AllowCredentials: true}, {AllowedOrigins: []string{"shop.example"}}, {MaxAge: -1}} {
		if _, err := gateway.CORS(bad); !errors.Is(err, gateway.ErrInvalidOption) {
			t.Errorf("CORS(%+v) error = %v", bad, err)
		}
	}
}

func TestNewServerLimits(t *testing.T) {
	up := echoUpstream(t, "up")
	g, err := gateway.New([]gateway.Route{{Path: "/**", Target: mustTarget(t, up.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveFrontDoor(t, g)
	status, _, _ := do(t, "GET", srv.URL+"/x", http.Header{"X-Big": {strings.Repeat("x", 32<<10)}}, nil)
	if status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("32 KiB of headers: %d", status)
	}
}
