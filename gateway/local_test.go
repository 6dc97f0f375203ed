package gateway_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/gateway"
)

// localSeen is what a Handler route's handler saw of its request.
type localSeen struct {
	path, rawQuery, id, route, subject, pattern string
	deadline                                    bool
	calls                                       int
}

// recordLocal returns a handler that records what it saw in s and answers
// 200 "local".
func recordLocal(s *localSeen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls++
		s.path, s.rawQuery, s.id, s.pattern = r.URL.Path, r.URL.RawQuery, r.PathValue("id"), r.Pattern
		s.route = gateway.RouteFromContext(r.Context())
		s.subject = r.Header.Get(gateway.DefaultSubjectHeader)
		_, s.deadline = r.Context().Deadline()
		_, _ = io.WriteString(w, "local")
	})
}

// TestLocalHandler: a Handler route is routed, cleaned, stripped of
// forged headers, passed through the gateway's and the route's middleware
// and its timeout, and logged, like a proxied route next to it, without
// an upstream.
func TestLocalHandler(t *testing.T) {
	up := echoUpstream(t, "orders")
	var log bytes.Buffer
	var s localSeen
	tagged := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Route-Middleware", "ran")
			next.ServeHTTP(w, r)
		})
	}
	g, err := gateway.New([]gateway.Route{
		{Name: "orders", Path: "/api/orders/**", Target: mustTarget(t, up.URL), StripPrefix: "/api"},
		{Name: "details", Path: "/api/orders/{id}/details", Methods: []string{"GET"}, Handler: recordLocal(&s),
			StripPrefix: "/api", Timeout: time.Minute, Middleware: []gateway.Middleware{tagged}},
	}, gateway.WithLogger(slog.New(slog.DiscardHandler)),
		gateway.WithMiddleware(gateway.RequestID(), gateway.AccessLog(slog.New(slog.NewJSONHandler(&log, nil)))))
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(g)
	defer front.Close()

	hdr := http.Header{gateway.DefaultSubjectHeader: {"admin"}}
	status, h, body := do(t, "GET", front.URL+"/api/products/..//orders/7/details?x=1", hdr, nil)
	if status != 200 || string(body) != "local" || h.Get("X-Route-Middleware") != "ran" || h.Get(gateway.RequestIDHeader) == "" {
		t.Fatalf("answer %d %v %q", status, h, body)
	}
	want := localSeen{path: "/orders/7/details", rawQuery: "x=1", id: "7", route: "details",
		pattern: "/api/orders/{id}/details", deadline: true, calls: 1}
	if s != want {
		t.Fatalf("the handler saw %+v, want %+v", s, want)
	}
	var line struct {
		Route  string `json:"route"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(log.Bytes(), &line); err != nil || line.Route != "details" || line.Status != 200 {
		t.Fatalf("access log %s (%v)", log.Bytes(), err)
	}

	// The proxied route next to it is unchanged.
	if status, _, body := do(t, "GET", front.URL+"/api/orders/7", nil, nil); status != 200 || decodeSeen(t, body).Path != "/orders/7" {
		t.Fatalf("proxied route: %d %s", status, body)
	}
	// A method the route does not allow is 405, not the proxied catch-all.
	status, h, body = do(t, "POST", front.URL+"/api/orders/7/details", nil, nil)
	if status != http.StatusMethodNotAllowed || h.Get("Allow") != "GET, HEAD" || decodeError(t, body).Code != gateway.CodeMethodNotAllowed || s.calls != 1 {
		t.Fatalf("POST: %d %v %s (%d calls)", status, h, body, s.calls)
	}
	// A path the gateway refuses never reaches the handler.
	if status, _, _ := do(t, "GET", front.URL+"/api/orders/%252e%252e/details", nil, nil); status != http.StatusBadRequest || s.calls != 1 {
		t.Fatalf("double-encoded path: %d (%d calls)", status, s.calls)
	}
}

// TestLocalHandlerAuth: a route middleware that refuses the request keeps
// it from the handler, as it keeps it from an upstream.
func TestLocalHandlerAuth(t *testing.T) {
	var s localSeen
	deny := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer ok" {
				gateway.WriteError(w, r, http.StatusUnauthorized, gateway.CodeUnauthorized, "no")
				return
			}
			next.ServeHTTP(w, r.WithContext(gateway.ContextWithSubject(r.Context(), "u1")))
		})
	}
	gw := mustGateway(t, []gateway.Route{{Path: "/console/**", Handler: recordLocal(&s), Rewrite: "/{**}",
		Middleware: []gateway.Middleware{deny}}})
	if status, _, body := do(t, "GET", gw.URL+"/console/a", nil, nil); status != 401 || decodeError(t, body).Code != gateway.CodeUnauthorized || s.calls != 0 {
		t.Fatalf("no token: %d %s (%d calls)", status, body, s.calls)
	}
	status, _, body := do(t, "GET", gw.URL+"/console/a/b", http.Header{"Authorization": {"Bearer ok"}}, nil)
	if status != 200 || s.calls != 1 || s.path != "/a/b" || s.deadline {
		t.Fatalf("token: %d %s, the handler saw %+v", status, body, s)
	}
}

// TestPathValueUnderBothRouters: a handler that reads r.PathValue serves
// the same under an http.ServeMux pattern and under a gateway route.
func TestPathValueUnderBothRouters(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "order %s, item %s", r.PathValue("id"), r.PathValue("item"))
	})
	mux := http.NewServeMux()
	mux.Handle("GET /orders/{id}/items/{item}", h)
	g, err := gateway.New([]gateway.Route{{Path: "/orders/{id}/items/{item}", Methods: []string{"GET"}, Handler: h}})
	if err != nil {
		t.Fatal(err)
	}
	for name, router := range map[string]http.Handler{"ServeMux": mux, "gateway": g} {
		w := serve(router, httptest.NewRequest("GET", "/orders/o%201/items/7", nil))
		if w.Code != 200 || w.Body.String() != "order o 1, item 7" {
			t.Errorf("%s: %d %q", name, w.Code, w.Body)
		}
	}
}

// TestLocalHandlerValidation: a route has a Target or a Handler, and the
// upstream-only settings are refused on a Handler route.
func TestLocalHandlerValidation(t *testing.T) {
	h := http.NotFoundHandler()
	target := mustTarget(t, "http://127.0.0.1:1")
	var breakers gateway.Breakers = fakeBreakers{}
	tests := []struct {
		name  string
		route gateway.Route
		field string
	}{
		{"neither", gateway.Route{Path: "/x"}, "Target"},
		{"both", gateway.Route{Path: "/x", Target: target, Handler: h}, "Handler"},
		{"retry", gateway.Route{Path: "/x", Handler: h, Retry: retries(1)}, "Retry"},
		{"breakers", gateway.Route{Path: "/x", Handler: h, Breakers: breakers}, "Breakers"},
		{"preserve host", gateway.Route{Path: "/x", Handler: h, PreserveHost: true}, "PreserveHost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gateway.New([]gateway.Route{tt.route})
			var re *gateway.RouteError
			if !errors.As(err, &re) || re.Field != tt.field || !errors.Is(err, gateway.ErrInvalidOption) {
				t.Fatalf("error %v, want a RouteError on %s", err, tt.field)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("error %q does not name %s", err, tt.field)
			}
		})
	}
	if _, err := gateway.New([]gateway.Route{{Path: "/x", Handler: h, Upgrades: []string{"websocket"}, Timeout: time.Second}}); err != nil {
		t.Fatalf("a Handler route with upgrades and a timeout: %v", err)
	}
}

// fakeBreakers allows every call.
type fakeBreakers struct{}

func (fakeBreakers) Allow(string) (func(error), error) { return func(error) {}, nil }
