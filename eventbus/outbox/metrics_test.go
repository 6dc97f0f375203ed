package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/prometheus/client_golang/prometheus"
)

// TestMetrics: relayed events, a failed round and pruned events are counted
// under the table's label; idle rounds are not observed.
func TestMetrics(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m, err := outbox.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := outbox.NewMetrics(reg); err == nil {
		t.Fatal("registering the metrics twice succeeded")
	}
	if _, err := outbox.NewMetrics(nil); !errors.Is(err, outbox.ErrInvalidOption) {
		t.Fatalf("NewMetrics(nil) = %v", err)
	}
	d := openSQLite(t)
	for _, id := range []string{"o-1", "o-2"} {
		if err := createOrder(ctx, d.db, id, orderCreated(t, id, 1)); err != nil {
			t.Fatal(err)
		}
	}
	down := newBus(t)
	_ = down.Close(context.Background())
	if _, err := newRelay(t, d, down, outbox.WithMetrics(m)).RelayOnce(ctx); err == nil {
		t.Fatal("publish to a closed bus succeeded")
	}
	r := newRelay(t, d, newBus(t), outbox.WithMetrics(m), outbox.WithRetention(time.Hour, time.Minute))
	for range 2 { // the second round is idle
		if _, err := r.RelayOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	d.age(t, "UPDATE microkit_outbox SET sent_at = sent_at - $1", 2*time.Hour)
	if _, err := r.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			if l := mt.GetLabel(); len(l) != 1 || l[0].GetName() != "table" || l[0].GetValue() != outbox.DefaultTable {
				t.Errorf("%s labels %v, want table=%s", f.GetName(), l, outbox.DefaultTable)
			}
			if h := mt.GetHistogram(); h != nil {
				got[f.GetName()] = float64(h.GetSampleCount())
			} else {
				got[f.GetName()] = mt.GetCounter().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"microkit_outbox_events_relayed_total":         2,
		"microkit_outbox_relay_failures_total":         1,
		"microkit_outbox_events_pruned_total":          2,
		"microkit_outbox_relay_round_duration_seconds": 2, // the failed and the full round, not the idle one
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
}
