package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/go-microkit/microkit/gateway"
)

// A shop's gateway: three services behind one front door, with paths
// cleaned before routing.
func Example() {
	service := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s saw %s", name, r.URL.Path)
		}))
	}
	users, orders, products := service("users"), service("orders"), service("products")
	defer users.Close()
	defer orders.Close()
	defer products.Close()

	route := func(path, upstream string) gateway.Route {
		target, err := gateway.StaticTarget(upstream)
		if err != nil {
			panic(err)
		}
		return gateway.Route{Path: path, Target: target, StripPrefix: "/api", Timeout: 5 * time.Second}
	}
	g, err := gateway.New([]gateway.Route{
		route("/api/users/**", users.URL),
		route("/api/orders/**", orders.URL),
		route("/api/products/**", products.URL),
	}, gateway.WithMiddleware(gateway.RequestID(), gateway.Recover(nil)))
	if err != nil {
		panic(err)
	}
	front := httptest.NewServer(g)
	defer front.Close()

	for _, path := range []string{"/api/users/7", "/api/products/../orders/1", "/api/nope"} {
		req, _ := http.NewRequest("GET", front.URL+path, nil)
		req.Header.Set("X-Request-Id", "req-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s -> %d %s\n", path, resp.StatusCode, body)
	}
	// Output:
	// /api/users/7 -> 200 users saw /users/7
	// /api/products/../orders/1 -> 200 orders saw /orders/1
	// /api/nope -> 404 {"error":{"status":404,"code":"not_found","message":"no route for this path","request_id":"req-1"}}
}

// A route served in process: it is cleaned, matched and wrapped in
// middleware like a proxied route, sees the path it would have forwarded,
// and reads its parameters with r.PathValue, as under http.ServeMux.
func ExampleRoute_handler() {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s (path %s, route %s)", r.PathValue("name"), r.URL.Path, gateway.RouteFromContext(r.Context()))
	})
	g, err := gateway.New([]gateway.Route{
		{Name: "hello", Path: "/api/hello/{name}", Methods: []string{"GET"}, Handler: hello, StripPrefix: "/api", Timeout: time.Second},
	})
	if err != nil {
		panic(err)
	}
	for _, path := range []string{"/api/hello/ada", "/api/x/../hello//bob", "/api/hello/..%2fsecret"} {
		w := httptest.NewRecorder()
		g.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
	}
	// Output:
	// 200 hello ada (path /hello/ada, route hello)
	// 200 hello bob (path /hello/bob, route hello)
	// 400 {"error":{"status":400,"code":"bad_request","message":"malformed request path"}}
}
