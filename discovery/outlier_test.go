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

// TestOutlierEjectionTimeIsEnvoys: each ejection lasts BaseEjectionTime
// times the instance's ejection count, capped at MaxEjectionTime; an
// instance back from an ejection needs ConsecutiveFailures failures in a
// row again; the count drops by one for each BaseEjectionTime the instance
// stays in the set.
func TestOutlierEjectionTimeIsEnvoys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newOutlierFixture(t, discovery.OutlierPolicy{
			ConsecutiveFailures: 3, BaseEjectionTime: 10 * time.Second, MaxEjectionTime: 25 * time.Second, MaxEjectedPercent: 50,
		})
		// A step advances the clock, then fails svc-a (picking until the
		// balancer returns it, which proves it is back in the set), then
		// checks which instances are ejected, and that 40 picks never
		// reach them.
		steps := []struct {
			name    string
			advance time.Duration
			fail    int
			ejected []string
		}{
			{name: "three failures in a row eject", fail: 3, ejected: []string{"svc-a"}},
			{name: "still out before the base time", advance: 9 * time.Second, ejected: []string{"svc-a"}},
			{name: "back after the base time; one failure is not enough", advance: time.Second, fail: 1},
			{name: "three failures in a row eject it again", fail: 3, ejected: []string{"svc-a"}},
			{name: "the second ejection lasts twice the base time", advance: 19 * time.Second, ejected: []string{"svc-a"}},
			{name: "back after 20s", advance: time.Second},
			{name: "the third ejection", fail: 3, ejected: []string{"svc-a"}},
			{name: "capped at MaxEjectionTime, not 30s", advance: 24 * time.Second, ejected: []string{"svc-a"}},
			{name: "back after 25s", advance: time.Second},
			// 20s in the set lower its count from 3 to 1: the next
			// ejection is the second's length again.
			{name: "healthy for twice the base time, then ejected", advance: 20 * time.Second, fail: 3, ejected: []string{"svc-a"}},
			{name: "for 20s, not 25s", advance: 19 * time.Second, ejected: []string{"svc-a"}},
			{name: "back after 20s again", advance: time.Second},
			{name: "healthy for an hour, ejected for the base time", advance: time.Hour, fail: 3, ejected: []string{"svc-a"}},
			{name: "still out at 9s", advance: 9 * time.Second, ejected: []string{"svc-a"}},
			{name: "back after 10s", advance: time.Second},
		}
		for _, s := range steps {
			advance(s.advance)
			if s.fail > 0 {
				f.fail("svc-a", s.fail)
			}
			f.expectEjected(s.name, s.ejected...)
		}
		if got := f.events.count(discovery.EventEjected, "svc"); got != 5 {
			t.Fatalf("%d ejection events, want 5", got)
		}
	})
}

// Status says when each ejection ends, and forgets it once it has.
func TestStatusSaysWhenAnEjectionEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newOutlierFixture(t, discovery.OutlierPolicy{
			ConsecutiveFailures: 3, BaseEjectionTime: 10 * time.Second, MaxEjectedPercent: 50,
		})
		f.fail("svc-a", 3)
		ejectedAt := time.Now()
		st := f.r.Status("svc")
		if until, ok := st.EjectedUntil["svc-a"]; !ok || !until.Equal(ejectedAt.Add(10*time.Second)) || len(st.EjectedUntil) != 1 {
			t.Fatalf("EjectedUntil %v, want svc-a until %v", st.EjectedUntil, ejectedAt.Add(10*time.Second))
		}
		advance(10 * time.Second)
		if st := f.r.Status("svc"); len(st.Ejected) != 0 || st.EjectedUntil != nil {
			t.Fatalf("after the ejection: %v, %v; want none", st.Ejected, st.EjectedUntil)
		}
	})
}

// TestOutlierLateResultsDoNotExtendAnEjection: requests sent to an
// instance before its ejection that fail while it is out decide nothing:
// the ejection neither grows nor restarts.
func TestOutlierLateResultsDoNotExtendAnEjection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newOutlierFixture(t, discovery.OutlierPolicy{
			ConsecutiveFailures: 3, BaseEjectionTime: 10 * time.Second, MaxEjectedPercent: 50,
		})
		var held []*discovery.Endpoint
		for len(held) < 6 {
			ep := must[*discovery.Endpoint](t)(f.r.Pick(context.Background(), "svc"))
			if ep.Instance().ID == "svc-a" {
				held = append(held, ep)
				continue
			}
			ep.Done(nil)
		}
		for _, ep := range held[:3] {
			ep.Done(errBoom)
		}
		f.expectEjected("three failures eject", "svc-a")
		advance(5 * time.Second)
		for _, ep := range held[3:] {
			ep.Done(errBoom) // late: sent before the ejection
		}
		advance(4 * time.Second)
		f.expectEjected("late failures do not restart it", "svc-a")
		advance(time.Second)
		f.expectEjected("back after the base time")
		if got := f.events.count(discovery.EventEjected, "svc"); got != 1 {
			t.Fatalf("%d ejection events, want 1", got)
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
