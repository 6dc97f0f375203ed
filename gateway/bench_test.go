package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func BenchmarkCleanPath(b *testing.B) {
	for _, p := range []string{"/api/orders/42/items", "//api/./products/../orders/%34%32"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := CleanPath(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMatch routes among 30 routes shaped like a shop's
// (/api/<service>/** prefixes).
func BenchmarkMatch(b *testing.B) {
	tg, _ := StaticTarget("http://127.0.0.1:1")
	var routes []Route
	for i := range 10 {
		routes = append(routes,
			Route{Path: fmt.Sprintf("/api/svc%d/**", i), Target: tg},
			Route{Path: fmt.Sprintf("/api/svc%d/{id}", i), Target: tg, Methods: []string{"GET"}},
			Route{Path: fmt.Sprintf("/api/svc%d/{id}/items/{item}", i), Target: tg})
	}
	g, err := New(routes)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, status := g.match("GET", "/api/svc7/42/items/9"); status != 200 {
			b.Fatal(status)
		}
	}
}

// BenchmarkRequestID is the cost of the RequestID middleware making a
// fresh id: one allocation for the id, plus the request copy that carries
// it in the context.
func BenchmarkRequestID(b *testing.B) {
	h := RequestID()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		r.Header.Del(RequestIDHeader)
		h.ServeHTTP(w, r)
	}
}

// BenchmarkLocalRoute is the gateway's own cost per request on a route
// served in process: sanitizing, cleaning, matching, the path values and
// the request copy that carries the handler's path, plus building the
// request (a fresh one each time, as a server does, so that setting the
// path values allocates as it does in production).
func BenchmarkLocalRoute(b *testing.B) {
	g, err := New([]Route{{Path: "/api/orders/{id}/items/{item}", Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}})
	if err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		g.ServeHTTP(w, httptest.NewRequest("GET", "/api/orders/42/items/9", nil))
	}
}
