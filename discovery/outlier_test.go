package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/discovery"
)

var errBoom = errors.New("boom")

// outlierFixture is a resolver over four instances with outlier ejection.
// Tests build it in a testing/synctest bubble, whose clock they move on.
type outlierFixture struct {
	t      *testing.T
	r      *discovery.Resolver
	reg    *discovery.Memory
	events *events
}

func newOutlierFixture(t *testing.T, p discovery.OutlierPolicy) *outlierFixture {
	reg := memoryWith(t, nil, inst("svc", 0), inst("svc", 1), inst("svc", 2), inst("svc", 3))
	ev := &events{}
	r := newResolver(t, reg, discovery.WithBalancer(discovery.RoundRobin),
		discovery.WithOutlierEjection(p), discovery.WithListener(ev))
	pickID(t, r, "svc")
	return &outlierFixture{t: t, r: r, reg: reg, events: ev}
}

// fail records n failures of the instance id, picking until the balancer
// returns it (other picks succeed).
func (f *outlierFixture) fail(id string, n int) {
	f.t.Helper()
	for i := 0; i < n; {
		ep := must[*discovery.Endpoint](f.t)(f.r.Pick(context.Background(), "svc"))
		if ep.Instance().ID == id {
			ep.Done(errBoom)
			i++
			continue
		}
		ep.Done(nil)
		if ejected := f.r.Status("svc").Ejected; slices.Contains(ejected, id) {
			return // ejected before n: no more picks of it
		}
	}
}

// picked returns the set of instances 40 picks reach.
func (f *outlierFixture) picked() map[string]bool {
	f.t.Helper()
	seen := map[string]bool{}
	for range 40 {
		seen[pickID(f.t, f.r, "svc")] = true
	}
	return seen
}

func (f *outlierFixture) expectEjected(step string, want ...string) {
	f.t.Helper()
	got := f.r.Status("svc").Ejected
	slices.Sort(got)
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !slices.Equal(got, want) {
		f.t.Fatalf("%s: ejected %v, want %v", step, got, want)
	}
	seen := f.picked()
	for _, id := range []string{"svc-a", "svc-b", "svc-c", "svc-d"} {
		if seen[id] == slices.Contains(want, id) {
			f.t.Fatalf("%s: picks %v with %v ejected", step, seen, want)
		}
	}
}

func TestOutlierEjectionAndReturnWithGrowingTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newOutlierFixture(t, discovery.OutlierPolicy{
			ConsecutiveFailures: 3, BaseEjectionTime: 10 * time.Second, MaxEjectionTime: 25 * time.Second, MaxEjectedPercent: 50,
		})
		// A step advances the clock, then fails svc-a (picking until the
		// balancer returns it, which proves it is back in the set), then checks
		// which instances are ejected. check also picks 40 times, which
		// proves the ejected ones are never picked, but its successes close the
		// breaker of an instance just back: so steps that are to see the
		// ejection time grow skip it.
		steps := []struct {
			name    string
			advance time.Duration
			fail    int
			ejected []string
			check   bool
		}{
			{name: "three failures in a row eject", fail: 3, ejected: []string{"svc-a"}, check: true},
			{name: "still out before the base time", advance: 9 * time.Second, ejected: []string{"svc-a"}, check: true},
			{name: "back after the base time, and its first call fails", advance: time.Second, fail: 1, ejected: []string{"svc-a"}},
			{name: "the second ejection lasts twice as long", advance: 19 * time.Second, ejected: []string{"svc-a"}, check: true},
			{name: "back, and fails again", advance: time.Second, fail: 1, ejected: []string{"svc-a"}},
			{name: "capped at MaxEjectionTime, not 40s", advance: 24 * time.Second, ejected: []string{"svc-a"}, check: true},
			{name: "back after 25s; successes close its breaker", advance: time.Second, check: true},
			{name: "the next ejection is the base time again", fail: 3, ejected: []string{"svc-a"}, check: true},
			{name: "back after the base time", advance: 10 * time.Second, check: true},
		}
		for _, s := range steps {
			advance(s.advance)
			if s.fail > 0 {
				f.fail("svc-a", s.fail)
			}
			if s.check {
				f.expectEjected(s.name, s.ejected...)
			} else if got := f.r.Status("svc").Ejected; !slices.Equal(got, s.ejected) {
				t.Fatalf("%s: ejected %v, want %v", s.name, got, s.ejected)
			}
		}
		if got := f.events.count(discovery.EventEjected, "svc"); got != 4 {
			t.Fatalf("%d ejection events, want 4", got)
		}
	})
}

func TestOutlierSuccessResetsTheCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newOutlierFixture(t, discovery.OutlierPolicy{ConsecutiveFailures: 3})
		f.fail("svc-b", 2)
		ep := must[*discovery.Endpoint](t)(f.r.Pick(context.Background(), "svc"))
		for ep.Instance().ID != "svc-b" {
			ep.Done(nil)
			ep = must[*discovery.Endpoint](t)(f.r.Pick(context.Background(), "svc"))
		}
		ep.Done(nil) // a success between failures
		f.fail("svc-b", 2)
		f.expectEjected("2 + success + 2 failures")
	})
}

func TestOutlierEjectionNeverExceedsTheCap(t *testing.T) {
	for _, tt := range []struct {
		percent int
		max     int
	}{
		{percent: 10, max: 1}, // rounds down to 0, but one may always go
		{percent: 50, max: 2},
		{percent: 100, max: 3}, // the last instance always stays
	} {
		t.Run(fmt.Sprint(tt.percent, "%"), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newOutlierFixture(t, discovery.OutlierPolicy{ConsecutiveFailures: 1, MaxEjectedPercent: tt.percent})
				order := []string{"svc-a", "svc-b", "svc-c", "svc-d"}
				for _, id := range order {
					f.fail(id, 1)
				}
				f.expectEjected(fmt.Sprint("cap ", tt.max), order[:tt.max]...)
				if got := f.events.count(discovery.EventEjectionSkipped, "svc"); got != 4-tt.max {
					t.Fatalf("percent %d: %d skipped ejections, want %d", tt.percent, got, 4-tt.max)
				}
			})
		})
	}
}

func TestOutlierIgnoresRemovedInstances(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newOutlierFixture(t, discovery.OutlierPolicy{ConsecutiveFailures: 1})
		ep := must[*discovery.Endpoint](t)(f.r.Pick(context.Background(), "svc"))
		if err := f.reg.Deregister(context.Background(), ep.Instance().ID); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := len(f.r.Status("svc").Instances); n != 3 {
			t.Fatalf("%d instances after a deregistration, want 3", n)
		}
		ep.Done(errBoom) // the late failure of a request to a removed instance
		if st := f.r.Status("svc"); len(st.Ejected) != 0 || len(st.Instances) != 3 {
			t.Fatalf("after a removed instance failed: %+v", st)
		}
	})
}
