package gateway_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/gateway"
)

// TestRoutePrecedence checks, through a real gateway, that the most
// specific matching pattern wins whatever the order of the routes: an exact
// path beats a "**" that matches it with zero trailing segments, "{id}"
// beats "**", and a method the winner rejects answers 405 instead of
// falling back to a less specific route.
func TestRoutePrecedence(t *testing.T) {
	routes := []gateway.Route{
		{Name: "orders", Path: "/api/orders"},
		{Name: "orders-tail", Path: "/api/orders/**", Methods: []string{"GET"}},
		{Name: "item", Path: "/api/items/{id}", Methods: []string{"GET"}},
		{Name: "items-tail", Path: "/api/items/**"},
	}
	for i := range routes {
		srv := echoUpstream(t, routes[i].Name)
		routes[i].Target = mustTarget(t, srv.URL)
	}
	tests := []struct {
		method, path string
		status       int
		upstream     string // "" for a gateway error
	}{
		{http.MethodPost, "/api/orders", 200, "orders"},
		{http.MethodGet, "/api/orders", 200, "orders"},
		{http.MethodGet, "/api/orders/1", 200, "orders-tail"},
		{http.MethodPost, "/api/orders/1", 405, ""},
		{http.MethodGet, "/api/orders/1/lines", 200, "orders-tail"},
		{http.MethodGet, "/api/items/7", 200, "item"},
		{http.MethodPost, "/api/items/7", 405, ""},
		{http.MethodPost, "/api/items", 200, "items-tail"},
		{http.MethodPost, "/api/items/7/x", 200, "items-tail"},
		{http.MethodGet, "/api/other", 404, ""},
	}
	for _, order := range []string{"declared", "reversed"} {
		rs := slices.Clone(routes)
		if order == "reversed" {
			slices.Reverse(rs)
		}
		gw := mustGateway(t, rs)
		for _, tt := range tests {
			t.Run(order+" "+tt.method+" "+tt.path, func(t *testing.T) {
				status, h, body := do(t, tt.method, gw.URL+tt.path, nil, nil)
				if status != tt.status {
					t.Fatalf("status %d, want %d (%s)", status, tt.status, body)
				}
				if tt.upstream == "" {
					if e := decodeError(t, body); e.Status != tt.status {
						t.Fatalf("error body status %d", e.Status)
					}
					if status == http.StatusMethodNotAllowed && h.Get("Allow") != "GET" {
						t.Fatalf("Allow = %q, want GET", h.Get("Allow"))
					}
					return
				}
				if s := decodeSeen(t, body); s.Upstream != tt.upstream || s.Method != tt.method || s.Path != tt.path {
					t.Fatalf("reached %s with %s %s, want %s", s.Upstream, s.Method, s.Path, tt.upstream)
				}
			})
		}
	}
}

// TestRouteMethodsAcrossParamNames checks that routes whose patterns differ
// only in parameter names share a path: each method reaches its own route
// whatever the order of declaration, a method none of them allows answers
// 405 with all their methods in Allow, and a less specific route is still
// never a fallback.
func TestRouteMethodsAcrossParamNames(t *testing.T) {
	routes := []gateway.Route{
		{Name: "cart-get", Path: "/api/carts/{id}", Methods: []string{"GET"}},
		{Name: "cart-put", Path: "/api/carts/{cartID}", Methods: []string{"PUT", "DELETE"}},
		{Name: "cart-any", Path: "/api/carts/*", Methods: []string{"PATCH"}},
		{Name: "carts-tail", Path: "/api/carts/**"},
	}
	for i := range routes {
		srv := echoUpstream(t, routes[i].Name)
		routes[i].Target = mustTarget(t, srv.URL)
	}
	tests := []struct {
		method   string
		status   int
		upstream string
	}{
		{http.MethodGet, 200, "cart-get"},
		{http.MethodPut, 200, "cart-put"},
		{http.MethodDelete, 200, "cart-put"},
		{http.MethodPatch, 200, "cart-any"},
		{http.MethodPost, 405, ""},
	}
	for _, order := range []string{"declared", "reversed"} {
		rs := slices.Clone(routes)
		if order == "reversed" {
			slices.Reverse(rs)
		}
		gw := mustGateway(t, rs)
		for _, tt := range tests {
			t.Run(order+" "+tt.method, func(t *testing.T) {
				status, h, body := do(t, tt.method, gw.URL+"/api/carts/c1", nil, nil)
				if status != tt.status {
					t.Fatalf("status %d, want %d (%s)", status, tt.status, body)
				}
				if status == http.StatusMethodNotAllowed {
					allow := strings.Split(h.Get("Allow"), ", ")
					slices.Sort(allow)
					if want := []string{"DELETE", "GET", "PATCH", "PUT"}; !slices.Equal(allow, want) {
						t.Fatalf("Allow = %q, want %v", h.Get("Allow"), want)
					}
					return
				}
				want := tt.upstream
				if s := decodeSeen(t, body); s.Upstream != want || s.Method != tt.method {
					t.Fatalf("reached %s with %s, want %s", s.Upstream, s.Method, want)
				}
			})
		}
	}
}
