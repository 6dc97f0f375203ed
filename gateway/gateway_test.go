package gateway_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/retry"
)

func TestRouting(t *testing.T) {
	users := echoUpstream(t, "users")
	orders := echoUpstream(t, "orders")
	public := echoUpstream(t, "public")
	gw := mustGateway(t, []gateway.Route{
		{Name: "users", Path: "/api/users/**", Target: mustTarget(t, users.URL), StripPrefix: "/api"},
		{Name: "order", Path: "/api/orders/{id}", Methods: []string{"GET"}, Target: mustTarget(t, orders.URL), Rewrite: "/v2/orders/{id}"},
		{Name: "order-delete", Path: "/api/orders/{id}", Methods: []string{"DELETE"}, Target: mustTarget(t, orders.URL)},
		{Name: "public", Path: "/api/**", Target: mustTarget(t, public.URL+"/base")},
	})
	tests := []struct {
		method, path string
		status       int
		upstream     string
		upPath       string
	}{
		{"GET", "/api/users/7", 200, "users", "/users/7"},
		{"GET", "/api/users", 200, "users", "/users"},
		{"GET", "/api/orders/42", 200, "orders", "/v2/orders/42"},
		{"DELETE", "/api/orders/42", 200, "orders", "/api/orders/42"},
		{"POST", "/api/orders/42", 405, "", ""},
		{"GET", "/api/products/1", 200, "public", "/base/api/products/1"},
		{"GET", "/api/products/../orders/42", 200, "orders", "/v2/orders/42"},
		{"GET", "//api//orders/42", 200, "orders", "/v2/orders/42"},
		{"GET", "/api/products/%2e%2e/orders/42", 200, "orders", "/v2/orders/42"},
		{"GET", "/api/products/%252e%252e/orders/42", 400, "", ""},
		{"GET", "/other", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			status, h, body := do(t, tt.method, gw.URL+tt.path, nil, nil)
			if status != tt.status {
				t.Fatalf("status %d, want %d (%s)", status, tt.status, body)
			}
			if tt.upstream == "" {
				e := decodeError(t, body)
				if e.Status != tt.status {
					t.Fatalf("error body status %d", e.Status)
				}
				// Both routes of the pattern: GET (and so HEAD) and DELETE.
				if status == 405 && h.Get("Allow") != "GET, HEAD, DELETE" {
					t.Fatalf("Allow = %q, want GET, HEAD, DELETE", h.Get("Allow"))
				}
				return
			}
			s := decodeSeen(t, body)
			if s.Upstream != tt.upstream || s.Path != tt.upPath {
				t.Fatalf("reached %s %s, want %s %s", s.Upstream, s.Path, tt.upstream, tt.upPath)
			}
		})
	}
}

func TestRoutesNames(t *testing.T) {
	tg := mustTarget(t, "http://127.0.0.1:1")
	g, err := gateway.New([]gateway.Route{{Name: "a", Path: "/a", Target: tg}, {Path: "/b/**", Target: tg}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(g.Routes(), ","); got != "a,/b/**" {
		t.Fatalf("Routes() = %s", got)
	}
}

func TestQueryAndBodyForwarded(t *testing.T) {
	up := echoUpstream(t, "up")
	gw := mustGateway(t, []gateway.Route{{Path: "/**", Target: mustTarget(t, up.URL)}})
	_, _, body := do(t, "POST", gw.URL+"/x?a=1&b=%2F", nil, strings.NewReader("hello"))
	s := decodeSeen(t, body)
	if s.Query != "a=1&b=%2F" || s.Body != "hello" || s.Method != "POST" {
		t.Fatalf("upstream saw %+v", s)
	}
}

func TestHeaders(t *testing.T) {
	up := echoUpstream(t, "up")
	tests := []struct {
		name    string
		trusted []string
		wantXFF string
		wantFwd string
	}{
		{"untrusted peer: client's X-Forwarded-For and Forwarded replaced", nil, "127.0.0.1", "for=127.0.0.1;host=HOST;proto=http"},
		{"trusted peer: chain kept and extended", []string{"127.0.0.0/8"}, "203.0.113.9, 127.0.0.1", "for=203.0.113.9, for=127.0.0.1;host=HOST;proto=http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := mustGateway(t, []gateway.Route{{Path: "/**", Target: mustTarget(t, up.URL)}},
				gateway.WithTrustedProxies(tt.trusted...), gateway.WithStripHeaders("X-Internal"))
			h := http.Header{
				"X-Forwarded-For":     {"203.0.113.9"},
				"Forwarded":           {"for=203.0.113.9"},
				"Connection":          {"X-Hop"},
				"X-Hop":               {"secret"},
				"Keep-Alive":          {"timeout=5"},
				"X-Auth-Subject":      {"admin"},
				"X-Internal":          {"1"},
				"X-Request-Id":        {"abc"},
				"Proxy-Authorization": {"Basic Zm9vOmJhcg=="},
			}
			_, _, body := do(t, "GET", gw.URL+"/x", h, nil)
			s := decodeSeen(t, body)
			host := strings.TrimPrefix(gw.URL, "http://")
			if got := s.Header.Get("X-Forwarded-For"); got != tt.wantXFF {
				t.Errorf("X-Forwarded-For = %q, want %q", got, tt.wantXFF)
			}
			if got, want := strings.Join(s.Header.Values("Forwarded"), ", "), strings.ReplaceAll(tt.wantFwd, "HOST", `"`+host+`"`); got != want {
				t.Errorf("Forwarded = %q, want %q", got, want)
			}
			if got := s.Header.Get("X-Forwarded-Host"); got != host {
				t.Errorf("X-Forwarded-Host = %q, want %q", got, host)
			}
			for _, k := range []string{"X-Hop", "Keep-Alive", "X-Auth-Subject", "X-Internal", "Proxy-Authorization"} {
				if v := s.Header.Values(k); len(v) > 0 {
					t.Errorf("upstream received %s: %q", k, v)
				}
			}
			if s.Header.Get("X-Request-Id") != "abc" {
				t.Errorf("X-Request-Id not forwarded")
			}
			if s.Host != strings.TrimPrefix(up.URL, "http://") {
				t.Errorf("Host = %q, want the upstream's", s.Host)
			}
		})
	}
}

func TestNewValidation(t *testing.T) {
	tg := mustTarget(t, "http://127.0.0.1:1")
	tests := []struct {
		name  string
		route gateway.Route
		field string
	}{
		{"bad path", gateway.Route{Name: "r", Path: "api", Target: tg}, "Path"},
		{"no target", gateway.Route{Name: "r", Path: "/api"}, "Target"},
		{"prefix not literal", gateway.Route{Name: "r", Path: "/{x}/y", Target: tg, StripPrefix: "/a"}, "StripPrefix"},
		{"rewrite unknown param", gateway.Route{Name: "r", Path: "/a/{id}", Target: tg, Rewrite: "/b/{nope}"}, "Rewrite"},
		{"negative timeout", gateway.Route{Name: "r", Path: "/a", Target: tg, Timeout: -1}, "Timeout"},
		{"retries for ever", gateway.Route{Name: "r", Path: "/a", Target: tg, Retry: retry.Policy{MaxAttempts: -1}}, "Retry"},
		{"bad backoff", gateway.Route{Name: "r", Path: "/a", Target: tg, Retry: retry.Policy{MaxAttempts: 2, Backoff: retry.Backoff{Initial: -time.Second}}}, "Retry"},
		{"bad status", gateway.Route{Name: "r", Path: "/a", Target: tg, RetryStatuses: []int{42}}, "RetryStatuses"},
		{"bad method", gateway.Route{Name: "r", Path: "/a", Target: tg, Methods: []string{"G ET"}}, "Methods"},
		{"nil middleware", gateway.Route{Name: "r", Path: "/a", Target: tg, Middleware: []gateway.Middleware{nil}}, "Middleware"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gateway.New([]gateway.Route{tt.route})
			var re *gateway.RouteError
			if !errors.As(err, &re) || re.Field != tt.field || re.Route != "r" || !errors.Is(err, gateway.ErrInvalidOption) {
				t.Fatalf("New error = %v, want a RouteError on %s", err, tt.field)
			}
		})
	}
	dup := []gateway.Route{{Name: "a", Path: "/x", Target: tg, Methods: []string{"GET", "PUT"}}, {Name: "r", Path: "/x", Target: tg, Methods: []string{"put"}}}
	var re *gateway.RouteError
	if _, err := gateway.New(dup); !errors.As(err, &re) || re.Route != "r" || re.Field != "Path" {
		t.Fatalf("duplicate route: %v", err)
	}
	if _, err := gateway.New([]gateway.Route{dup[0], {Path: "/x", Target: tg, Methods: []string{"DELETE"}}}); err != nil {
		t.Fatalf("same path, other methods: %v", err)
	}
	// Patterns that differ only in parameter names or a trailing slash
	// match the same paths: the second route would never be reached.
	for _, pair := range [][2]string{{"/c/{id}", "/c/{key}"}, {"/c/{id}", "/c/*"}, {"/c", "/c/"}} {
		rs := []gateway.Route{{Name: "a", Path: pair[0], Target: tg, Methods: []string{"GET"}}, {Name: "r", Path: pair[1], Target: tg}}
		if _, err := gateway.New(rs); !errors.As(err, &re) || re.Route != "r" || re.Field != "Path" {
			t.Fatalf("%s after %s: %v", pair[1], pair[0], err)
		}
		rs[1].Methods = []string{"PUT"}
		if _, err := gateway.New(rs); err != nil {
			t.Fatalf("%s after %s, other methods: %v", pair[1], pair[0], err)
		}
	}
	for _, u := range []string{"ftp://x", "/relative", "http://", "http://h/?q=1", "http://u:p@h", "%"} {
		if _, err := gateway.StaticTarget(u); !errors.Is(err, gateway.ErrInvalidOption) {
			t.Errorf("StaticTarget(%q) error = %v", u, err)
		}
	}
	for _, o := range []gateway.Option{gateway.WithTrustedProxies("nope"), gateway.WithStripHeaders("")} {
		if _, err := gateway.New(nil, o); !errors.Is(err, gateway.ErrInvalidOption) {
			t.Errorf("option error = %v", err)
		}
	}
}
