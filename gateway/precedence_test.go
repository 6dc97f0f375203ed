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
	inBothOrders(t, routes, func(order, url string) {
		for _, tt := range tests {
			t.Run(order+" "+tt.method+" "+tt.path, func(t *testing.T) {
				status, h, body := do(t, tt.method, url+tt.path, nil, nil)
				if status != tt.status {
					t.Fatalf("status %d, want %d (%s)", status, tt.status, body)
				}
				if tt.upstream == "" {
					if e := decodeError(t, body); e.Status != tt.status {
						t.Fatalf("error body status %d", e.Status)
					}
					if status == http.StatusMethodNotAllowed && h.Get("Allow") != "GET, HEAD" {
						t.Fatalf("Allow = %q, want GET, HEAD", h.Get("Allow"))
					}
					return
				}
				if s := decodeSeen(t, body); s.Upstream != tt.upstream || s.Method != tt.method || s.Path != tt.path {
					t.Fatalf("reached %s with %s %s, want %s", s.Upstream, s.Method, s.Path, tt.upstream)
				}
			})
		}
	})
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
	inBothOrders(t, routes, func(order, url string) {
		for _, tt := range tests {
			t.Run(order+" "+tt.method, func(t *testing.T) {
				status, h, body := do(t, tt.method, url+"/api/carts/c1", nil, nil)
				if status != tt.status {
					t.Fatalf("status %d, want %d (%s)", status, tt.status, body)
				}
				if status == http.StatusMethodNotAllowed {
					allow := strings.Split(h.Get("Allow"), ", ")
					slices.Sort(allow)
					if want := []string{"DELETE", "GET", "HEAD", "PATCH", "PUT"}; !slices.Equal(allow, want) {
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
	})
}

// TestHeadFollowsGet checks that a route allowing GET answers HEAD, as
// net/http's ServeMux does, that a route declaring HEAD itself takes it
// over one that allows it only through GET, whatever their order, and that
// Allow lists HEAD.
func TestHeadFollowsGet(t *testing.T) {
	routes := []gateway.Route{
		{Name: "page", Path: "/api/pages/{id}", Methods: []string{"GET"}},
		{Name: "page-head", Path: "/api/pages/{key}", Methods: []string{"HEAD"}},
		{Name: "doc", Path: "/api/docs/{id}", Methods: []string{"GET"}},
	}
	tests := []struct {
		method, path string
		status       int
		upstream     string // X-Upstream; "" for a gateway error
	}{
		{http.MethodGet, "/api/pages/1", 200, "page"},
		{http.MethodHead, "/api/pages/1", 200, "page-head"},
		{http.MethodHead, "/api/docs/1", 200, "doc"},
		{http.MethodPost, "/api/docs/1", 405, ""},
	}
	inBothOrders(t, routes, func(order, url string) {
		for _, tt := range tests {
			t.Run(order+" "+tt.method+" "+tt.path, func(t *testing.T) {
				status, h, _ := do(t, tt.method, url+tt.path, nil, nil)
				if status != tt.status {
					t.Fatalf("status %d, want %d", status, tt.status)
				}
				if tt.upstream == "" {
					if got := h.Get("Allow"); got != "GET, HEAD" {
						t.Fatalf("Allow = %q, want GET, HEAD", got)
					}
					return
				}
				if h.Get("X-Upstream") != tt.upstream || h.Get("X-Upstream-Method") != tt.method {
					t.Fatalf("reached %s with %s, want %s with %s", h.Get("X-Upstream"), h.Get("X-Upstream-Method"), tt.upstream, tt.method)
				}
			})
		}
	})
}

// inBothOrders starts an upstream per route, named after it, then calls run
// with the URL of a gateway over the routes as declared and of one over
// them reversed: which route serves a request must not depend on the order
// of declaration.
func inBothOrders(t *testing.T, routes []gateway.Route, run func(order, url string)) {
	t.Helper()
	for i := range routes {
		srv := echoUpstream(t, routes[i].Name)
		routes[i].Target = mustTarget(t, srv.URL)
	}
	for _, order := range []string{"declared", "reversed"} {
		rs := slices.Clone(routes)
		if order == "reversed" {
			slices.Reverse(rs)
		}
		run(order, mustGateway(t, rs).URL)
	}
}
