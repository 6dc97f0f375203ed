package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/discovery"
)

// The aggregated console finds the consoles of a fleet through the
// registry: each instance announces its console's path under
// console.MetaKey, and the aggregate, behind an Authorize of its own,
// reads them all with the fleet's credentials. An instance that does not
// answer is shown as such, beside the others.
func ExampleNewAggregate() {
	ctx := context.Background()

	// An instance of the order service mounts its console, which takes
	// the fleet's token.
	orders, err := console.New(func(r *http.Request) (console.Operator, error) {
		if r.Header.Get("Authorization") != "Bearer fleet-token" {
			return console.Operator{}, console.ErrUnauthenticated
		}
		return console.Operator{Name: "aggregate"}, nil
	})
	if err != nil {
		panic(err)
	}
	payments, err := breaker.New("payment-service")
	if err != nil {
		panic(err)
	}
	orders.AddBreakers(payments)
	payments.ForceOpen(ctx)
	mux := http.NewServeMux()
	mux.Handle(orders.Path(), orders)
	running := httptest.NewServer(mux)
	defer running.Close()
	gone := httptest.NewServer(mux)
	gone.Close()

	// Both instances announce their console in the registry; the second
	// has stopped.
	reg, err := discovery.NewMemory()
	if err != nil {
		panic(err)
	}
	defer reg.Close(ctx)
	for id, srv := range map[string]*httptest.Server{"orders-1": running, "orders-2": gone} {
		addr := srv.Listener.Addr().(*net.TCPAddr)
		err := reg.Register(ctx, discovery.Instance{ID: id, Service: "orders", Address: addr.IP.String(), Port: addr.Port,
			Meta: map[string]string{console.MetaKey: orders.Path()}})
		if err != nil {
			panic(err)
		}
	}

	// The aggregate authorizes its operators and adds the fleet's token
	// to every request it makes to an instance.
	agg, err := console.NewAggregate(func(r *http.Request) (console.Operator, error) {
		if r.Header.Get("Authorization") != "Bearer operator-token" {
			return console.Operator{}, console.ErrUnauthenticated
		}
		return console.Operator{Name: "on-call"}, nil
	}, reg,
		console.WithConsoleOptions(console.WithPath("/fleet/")),
		console.WithInstanceRequest(func(r *http.Request) { r.Header.Set("Authorization", "Bearer fleet-token") }))
	if err != nil {
		panic(err)
	}

	req := httptest.NewRequest(http.MethodGet, "/fleet/api/", nil)
	req.Header.Set("Authorization", "Bearer operator-token")
	w := httptest.NewRecorder()
	agg.ServeHTTP(w, req)
	var overview console.AggregateOverview
	if err := json.Unmarshal(w.Body.Bytes(), &overview); err != nil {
		panic(err)
	}
	for _, s := range overview.Services {
		fmt.Println(s.Service, "needs attention:", s.Attention)
		for _, in := range s.Instances {
			fmt.Println(in.ID, in.Reach, in.Link)
		}
	}
	// Output:
	// orders needs attention: 1
	// orders-1 answered /fleet/instances/orders-1/
	// orders-2 failed /fleet/instances/orders-2/
}
