package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-microkit/microkit/discovery"
)

// An instance that fails three calls in a row is ejected for the base
// ejection time: picks go to the others until it ends. Then the instance is
// back, and three more failures in a row eject it for twice as long.
func ExampleWithOutlierEjection() {
	ctx := context.Background()
	reg, _ := discovery.NewStatic([]discovery.Instance{
		{ID: "a", Service: "cart", Address: "10.0.0.1", Port: 80},
		{ID: "b", Service: "cart", Address: "10.0.0.2", Port: 80},
	})
	r, _ := discovery.NewResolver(reg,
		discovery.WithBalancer(discovery.RoundRobin),
		discovery.WithLogger(slog.New(slog.DiscardHandler)),
		discovery.WithOutlierEjection(discovery.OutlierPolicy{
			ConsecutiveFailures: 3, BaseEjectionTime: 30 * time.Second, MaxEjectedPercent: 50,
		}))
	defer r.Close(ctx)

	picks := func() (ids string) {
		for range 4 {
			ep, _ := r.Pick(ctx, "cart")
			ids += ep.Instance().ID
			if ep.Instance().ID == "a" {
				ep.Done(errors.New("connection reset")) // a is sick
			} else {
				ep.Done(nil)
			}
		}
		return ids
	}
	fmt.Println(picks(), picks(), r.Status("cart").Ejected)
	// Output:
	// abab abbb [a]
}
