package discovery_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-microkit/microkit/discovery"
)

// waitFor polls cond until it holds, failing after a generous bound. It
// waits for an eventual state, never measures time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func inst(service string, n int) discovery.Instance {
	return discovery.Instance{ID: service + "-" + string(rune('a'+n)), Service: service, Address: "127.0.0.1", Port: 10000 + n}
}

// memoryWith returns a memory registry holding instances.
func memoryWith(t testing.TB, opts []discovery.MemoryOption, instances ...discovery.Instance) *discovery.Memory {
	t.Helper()
	reg := must[*discovery.Memory](t)(discovery.NewMemory(opts...))
	t.Cleanup(func() { _ = reg.Close() })
	for _, in := range instances {
		if err := reg.Register(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

func ids(instances []discovery.Instance) []string {
	out := make([]string, len(instances))
	for i, in := range instances {
		out[i] = in.ID
	}
	return out
}

// metricValue returns the value of the gauge or counter name{service=...}
// gathered from reg, or 0 if it has no such series.
func metricValue(t testing.TB, reg prometheus.Gatherer, name, service string) float64 {
	t.Helper()
	v, _ := metricSeries(t, reg, name, service)
	return v
}

// hasSeries reports whether reg has the series name{service=...}.
func hasSeries(t testing.TB, reg prometheus.Gatherer, name, service string) bool {
	t.Helper()
	_, ok := metricSeries(t, reg, name, service)
	return ok
}

func metricSeries(t testing.TB, reg prometheus.Gatherer, name, service string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "service" && l.GetValue() == service {
					if m.GetGauge() != nil {
						return m.GetGauge().GetValue(), true
					}
					return m.GetCounter().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// quietLogger drops the warnings that fault tests provoke on purpose.
var quietLogger = slog.New(slog.DiscardHandler)
