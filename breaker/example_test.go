package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

func Example() {
	b, err := breaker.New("inventory",
		breaker.WithConsecutiveFailures(2),
		breaker.WithOpenDuration(30*time.Second),
	)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	unavailable := errors.New("inventory: unavailable")
	for i := range 4 {
		err := b.Execute(ctx, func(ctx context.Context) error {
			return unavailable // the dependency is down
		})
		fmt.Printf("call %d: %v (breaker %v)\n", i+1, err, b.State())
	}
	fmt.Println("open:", errors.Is(b.Execute(ctx, func(context.Context) error { return nil }), breaker.ErrOpen))
	// Output:
	// call 1: inventory: unavailable (breaker closed)
	// call 2: inventory: unavailable (breaker open)
	// call 3: breaker: "inventory" is open (breaker open)
	// call 4: breaker: "inventory" is open (breaker open)
	// open: true
}

func ExampleDoWithFallback() {
	b, _ := breaker.New("prices", breaker.WithConsecutiveFailures(1))
	ctx := context.Background()
	fetch := func(ctx context.Context) (float64, error) {
		return 0, errors.New("prices: timeout")
	}
	cached := func(ctx context.Context, err error) (float64, error) {
		fmt.Println("fallback after:", errors.Is(err, breaker.ErrOpen))
		return 9.99, nil // the last known price
	}
	for range 2 {
		price, err := breaker.DoWithFallback(ctx, b, fetch, cached)
		fmt.Println(price, err)
	}
	// Output:
	// fallback after: false
	// 9.99 <nil>
	// fallback after: true
	// 9.99 <nil>
}

func ExampleNewTransport() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()

	b, _ := breaker.New("upstream", breaker.WithConsecutiveFailures(2))
	tr, _ := breaker.NewTransport(http.DefaultTransport, b)
	client := &http.Client{Transport: tr}
	for range 3 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			fmt.Println("error, open:", errors.Is(err, breaker.ErrOpen))
			continue
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// 502
	// 502
	// error, open: true
}

func ExampleBreaker_Allow() {
	b, _ := breaker.New("search")
	done, err := b.Allow()
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	// ... make the call ...
	done(nil)
	fmt.Println(b.State())
	// Output: closed
}

func ExampleSet() {
	hosts, _ := breaker.NewSet("api", 1000, breaker.WithConsecutiveFailures(1))
	ctx := context.Background()
	_ = hosts.Get("a.example:443").Execute(ctx, func(context.Context) error { return errors.New("reset") })
	fmt.Println(hosts.Get("a.example:443").State(), hosts.Get("b.example:443").State())
	// Output: open closed
}
