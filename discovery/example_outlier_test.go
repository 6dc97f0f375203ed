package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-microkit/microkit/discovery"
)

// steppedClock is a clock the example moves by hand.
type steppedClock struct{ now time.Time }

func (c *steppedClock) Now() time.Time { return c.now }

// An instance that fails three calls in a row is ejected for the base
// ejection time, then comes back.
func ExampleWithOutlierEjection() {
	ctx := context.Background()
	reg, _ := discovery.NewStatic([]discovery.Instance{
		{ID: "a", Service: "cart", Address: "10.0.0.1", Port: 80},
		{ID: "b", Service: "cart", Address: "10.0.0.2", Port: 80},
	})
	clock := &steppedClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r, _ := discovery.NewResolver(reg,
		discovery.WithBalancer(discovery.RoundRobin),
		discovery.WithClock(clock),
		discovery.WithLogger(slog.New(slog.DiscardHandler)),
		discovery.WithOutlierEjection(discovery.OutlierPolicy{
			ConsecutiveFailures: 3, BaseEjectionTime: 30 * time.Second, MaxEjectedPercent: 50,
		}))
	defer r.Close()

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
	// After the ejection time a is back; it fails its first call again and
	// is ejected for twice as long.
	clock.now = clock.now.Add(30 * time.Second)
	fmt.Println(picks(), r.Status("cart").Ejected)
	// Output:
	// abab abbb [a]
	// abbb [a]
}
