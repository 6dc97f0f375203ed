package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/console"
)

// A service mounts its console next to /metrics, with an Authorize
// function of its own (here a shared operator token), and registers the
// building blocks it wants to show.
func Example() {
	c, err := console.New(func(r *http.Request) (console.Operator, error) {
		if r.Header.Get("Authorization") != "Bearer operator-token" {
			return console.Operator{}, console.ErrUnauthenticated
		}
		return console.Operator{Name: "on-call"}, nil
	})
	if err != nil {
		panic(err)
	}
	payments, err := breaker.New("payment-service", breaker.WithListener(c.BreakerListener()))
	if err != nil {
		panic(err)
	}
	c.AddBreakers(payments)
	payments.ForceOpen(context.Background())

	mux := http.NewServeMux()
	mux.Handle(c.Path(), c)

	for _, token := range []string{"", "operator-token"} {
		req := httptest.NewRequest(http.MethodGet, "/console/api/breakers", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		fmt.Println(w.Code, strings.Contains(w.Body.String(), `"state": "forced-open"`))
	}
	// Output:
	// 401 false
	// 200 true
}
