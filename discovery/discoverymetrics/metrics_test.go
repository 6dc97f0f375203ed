package discoverymetrics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/discoverymetrics"
	"github.com/go-microkit/microkit/internal/metricstest"
)

func newMetrics(t *testing.T) (*discoverymetrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := discoverymetrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func TestNew(t *testing.T) {
	_, reg := newMetrics(t)
	if _, err := discoverymetrics.New(reg); err == nil {
		t.Error("registering twice succeeded")
	}
	if _, err := discoverymetrics.New(nil); !errors.Is(err, discovery.ErrInvalidOption) {
		t.Errorf("nil registerer: %v", err)
	}
}

// TestOnEvent feeds a resolver's events in order and checks every series
// after each one.
func TestOnEvent(t *testing.T) {
	m, reg := newMetrics(t)
	ctx := context.Background()
	steps := []struct {
		name  string
		event discovery.Event
		want  map[string]float64
	}{
		{"first set", discovery.Event{Kind: discovery.EventUpdated, Service: "svc", Instances: 3}, map[string]float64{
			"microkit_discovery_healthy_instances{service=svc}": 3,
			"microkit_discovery_stale_services{service=svc}":    0,
		}},
		{"suspect answer held", discovery.Event{Kind: discovery.EventHeld, Service: "svc", Instances: 3, Stale: true}, map[string]float64{
			"microkit_discovery_healthy_instances{service=svc}": 3,
			"microkit_discovery_stale_services{service=svc}":    1,
		}},
		{"recovered", discovery.Event{Kind: discovery.EventUpdated, Service: "svc", Instances: 2}, map[string]float64{
			"microkit_discovery_healthy_instances{service=svc}": 2,
			"microkit_discovery_stale_services{service=svc}":    0,
		}},
		{"first watch of another service fails", discovery.Event{Kind: discovery.EventWatchFailed, Service: "new", Err: errors.New("down")}, map[string]float64{
			"microkit_discovery_healthy_instances{service=svc}":  2,
			"microkit_discovery_stale_services{service=svc}":     0,
			"microkit_discovery_watch_errors_total{service=new}": 1,
		}},
		{"registry down: stale", discovery.Event{Kind: discovery.EventWatchFailed, Service: "svc", Stale: true, Err: errors.New("down")}, map[string]float64{
			"microkit_discovery_healthy_instances{service=svc}":  2,
			"microkit_discovery_stale_services{service=svc}":     1,
			"microkit_discovery_watch_errors_total{service=svc}": 1,
			"microkit_discovery_watch_errors_total{service=new}": 1,
		}},
		{"ejected", discovery.Event{Kind: discovery.EventEjected, Service: "svc", Instance: "svc-a"}, map[string]float64{
			"microkit_discovery_healthy_instances{service=svc}":  2,
			"microkit_discovery_stale_services{service=svc}":     1,
			"microkit_discovery_watch_errors_total{service=svc}": 1,
			"microkit_discovery_watch_errors_total{service=new}": 1,
			"microkit_discovery_ejections_total{service=svc}":    1,
		}},
		{"ejection skipped", discovery.Event{Kind: discovery.EventEjectionSkipped, Service: "svc", Instance: "svc-b"}, map[string]float64{
			"microkit_discovery_healthy_instances{service=svc}":       2,
			"microkit_discovery_stale_services{service=svc}":          1,
			"microkit_discovery_watch_errors_total{service=svc}":      1,
			"microkit_discovery_watch_errors_total{service=new}":      1,
			"microkit_discovery_ejections_total{service=svc}":         1,
			"microkit_discovery_ejections_skipped_total{service=svc}": 1,
		}},
		{"retried", discovery.Event{Kind: discovery.EventRetried, Service: "svc", Instance: "svc-b"}, map[string]float64{
			"microkit_discovery_healthy_instances{service=svc}":       2,
			"microkit_discovery_stale_services{service=svc}":          1,
			"microkit_discovery_watch_errors_total{service=svc}":      1,
			"microkit_discovery_watch_errors_total{service=new}":      1,
			"microkit_discovery_ejections_total{service=svc}":         1,
			"microkit_discovery_ejections_skipped_total{service=svc}": 1,
			"microkit_discovery_retries_total{service=svc}":           1,
		}},
		{"evicted: every series of svc goes", discovery.Event{Kind: discovery.EventEvicted, Service: "svc"}, map[string]float64{
			"microkit_discovery_watch_errors_total{service=new}": 1,
		}},
	}
	for _, s := range steps {
		m.OnEvent(ctx, s.event)
		got := metricstest.Series(t, reg)
		if len(got) != len(s.want) {
			t.Fatalf("%s: series %v, want %v", s.name, got, s.want)
		}
		for k, v := range s.want {
			if got[k] != v {
				t.Fatalf("%s: %s = %v, want %v (all: %v)", s.name, k, got[k], v, got)
			}
		}
	}
	if err := metricstest.CheckRegistry(reg); err != nil {
		t.Fatal(err)
	}
}

// TestResolver wires the metrics to a resolver: the gauges follow the
// registry, and turn stale when it goes away.
func TestResolver(t *testing.T) {
	m, reg := newMetrics(t)
	registry, err := discovery.NewMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer registry.Close(context.Background())
	ctx := context.Background()
	if err := registry.Register(ctx, discovery.Instance{ID: "svc-a", Service: "svc", Address: "127.0.0.1", Port: 10000}); err != nil {
		t.Fatal(err)
	}
	r, err := discovery.NewResolver(registry, discovery.WithListener(m), discovery.WithWatchBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	ep, err := r.Pick(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	ep.Done(nil)
	if got := metricstest.Series(t, reg); got["microkit_discovery_healthy_instances{service=svc}"] != 1 || got["microkit_discovery_stale_services{service=svc}"] != 0 {
		t.Fatalf("after the first pick: %v", got)
	}
	_ = registry.Close(context.Background()) // every watch call fails from now on
	for deadline := time.Now().Add(5 * time.Second); metricstest.Series(t, reg)["microkit_discovery_stale_services{service=svc}"] != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("never stale: %v", metricstest.Series(t, reg))
		}
		time.Sleep(time.Millisecond)
	}
	if got := metricstest.Series(t, reg); got["microkit_discovery_healthy_instances{service=svc}"] != 1 || got["microkit_discovery_watch_errors_total{service=svc}"] < 1 {
		t.Fatalf("with the registry gone: %v", got)
	}
	if err := metricstest.CheckRegistry(reg); err != nil {
		t.Fatal(err)
	}
}
