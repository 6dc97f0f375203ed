package discoverytarget_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/discoverytarget"
)

// A route whose upstream is whatever instance of "product-service" the
// resolver picks.
func ExampleNew() {
	product := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "product-service saw %s", r.URL.Path)
	}))
	defer product.Close()

	instances, _ := discovery.ParseStatic("product-service=" + product.Listener.Addr().String())
	reg, _ := discovery.NewStatic(instances)
	resolver, _ := discovery.NewResolver(reg)
	defer resolver.Close(context.Background())
	target, _ := discoverytarget.New(resolver, "product-service")

	g, _ := gateway.New([]gateway.Route{{Path: "/api/products/**", Target: target, StripPrefix: "/api"}})
	front := httptest.NewServer(g)
	defer front.Close()
	resp, err := http.Get(front.URL + "/api/products/7")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// 200 product-service saw /products/7
}
