package outboxmetrics_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/eventbus/outbox/outboxmetrics"
	"github.com/go-microkit/microkit/internal/metricstest"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/sqldialect"
)

func newMetrics(t *testing.T) (*outboxmetrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := outboxmetrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func TestNew(t *testing.T) {
	_, reg := newMetrics(t)
	if _, err := outboxmetrics.New(reg); err == nil {
		t.Error("registering twice succeeded")
	}
	if _, err := outboxmetrics.New(nil); !errors.Is(err, outbox.ErrInvalidOption) {
		t.Errorf("nil registerer: %v", err)
	}
}

// TestOnEvent feeds a relay's events in order and checks every series
// after each one.
func TestOnEvent(t *testing.T) {
	m, reg := newMetrics(t)
	ctx := context.Background()
	steps := []struct {
		name  string
		event outbox.Event
		want  map[string]float64
	}{
		{"a round relays 3", outbox.Event{Kind: outbox.EventRelayed, Table: "orders_outbox", Events: 3, Duration: time.Millisecond}, map[string]float64{
			"microkit_outbox_events_relayed_total{table=orders_outbox}":         3,
			"microkit_outbox_relay_round_duration_seconds{table=orders_outbox}": 1,
		}},
		{"a round fails", outbox.Event{Kind: outbox.EventRelayFailed, Table: "orders_outbox", Duration: time.Second, Err: errors.New("broker down")}, map[string]float64{
			"microkit_outbox_events_relayed_total{table=orders_outbox}":         3,
			"microkit_outbox_relay_failures_total{table=orders_outbox}":         1,
			"microkit_outbox_relay_round_duration_seconds{table=orders_outbox}": 2,
		}},
		{"another table relays 2", outbox.Event{Kind: outbox.EventRelayed, Table: "billing_outbox", Events: 2, Duration: time.Millisecond}, map[string]float64{
			"microkit_outbox_events_relayed_total{table=orders_outbox}":          3,
			"microkit_outbox_relay_failures_total{table=orders_outbox}":          1,
			"microkit_outbox_relay_round_duration_seconds{table=orders_outbox}":  2,
			"microkit_outbox_events_relayed_total{table=billing_outbox}":         2,
			"microkit_outbox_relay_round_duration_seconds{table=billing_outbox}": 1,
		}},
		{"5 pruned", outbox.Event{Kind: outbox.EventPruned, Table: "orders_outbox", Events: 5}, map[string]float64{
			"microkit_outbox_events_relayed_total{table=orders_outbox}":          3,
			"microkit_outbox_relay_failures_total{table=orders_outbox}":          1,
			"microkit_outbox_relay_round_duration_seconds{table=orders_outbox}":  2,
			"microkit_outbox_events_relayed_total{table=billing_outbox}":         2,
			"microkit_outbox_relay_round_duration_seconds{table=billing_outbox}": 1,
			"microkit_outbox_events_pruned_total{table=orders_outbox}":           5,
		}},
		{"an inbox batch of 4", outbox.Event{Kind: outbox.EventInboxBatch, Table: "microkit_inbox", Events: 4, Duration: time.Millisecond}, map[string]float64{
			"microkit_outbox_events_relayed_total{table=orders_outbox}":          3,
			"microkit_outbox_relay_failures_total{table=orders_outbox}":          1,
			"microkit_outbox_relay_round_duration_seconds{table=orders_outbox}":  2,
			"microkit_outbox_events_relayed_total{table=billing_outbox}":         2,
			"microkit_outbox_relay_round_duration_seconds{table=billing_outbox}": 1,
			"microkit_outbox_events_pruned_total{table=orders_outbox}":           5,
			"microkit_outbox_inbox_batch_size{table=microkit_inbox}":             1,
			"microkit_outbox_inbox_batch_duration_seconds{table=microkit_inbox}": 1,
		}},
		{"an inbox batch of 3 that fell back", outbox.Event{Kind: outbox.EventInboxBatch, Table: "microkit_inbox", Events: 3, Duration: time.Millisecond, FellBack: true}, map[string]float64{
			"microkit_outbox_events_relayed_total{table=orders_outbox}":          3,
			"microkit_outbox_relay_failures_total{table=orders_outbox}":          1,
			"microkit_outbox_relay_round_duration_seconds{table=orders_outbox}":  2,
			"microkit_outbox_events_relayed_total{table=billing_outbox}":         2,
			"microkit_outbox_relay_round_duration_seconds{table=billing_outbox}": 1,
			"microkit_outbox_events_pruned_total{table=orders_outbox}":           5,
			"microkit_outbox_inbox_batch_size{table=microkit_inbox}":             2,
			"microkit_outbox_inbox_batch_duration_seconds{table=microkit_inbox}": 2,
			"microkit_outbox_inbox_batch_fallbacks_total{table=microkit_inbox}":  1,
		}},
	}
	for _, s := range steps {
		m.OnEvent(ctx, s.event)
		if got := metricstest.Series(t, reg); !maps.Equal(got, s.want) {
			t.Fatalf("%s: series %v, want %v", s.name, got, s.want)
		}
	}
	if err := metricstest.CheckRegistry(reg); err != nil {
		t.Fatal(err)
	}
}

// TestRelay wires the metrics to relays on SQLite: relayed events, a
// failed round and pruned events are counted under the table's label, and
// idle rounds are not observed.
func TestRelay(t *testing.T) {
	m, reg := newMetrics(t)
	ctx := context.Background()
	db, _ := sqltest.Open(t, sqldialect.SQLite, "outboxmetrics_test")
	if err := outbox.Migrate(ctx, db, sqldialect.SQLite); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"o-1", "o-2"} {
		msg, err := eventbus.NewMessage("order.created", map[string]string{"orderId": id})
		if err != nil {
			t.Fatal(err)
		}
		if err := outbox.Add(ctx, tx, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	newRelay := func(pub eventbus.Publisher) *outbox.Relay {
		r, err := outbox.NewRelay(db, sqldialect.SQLite, pub, outbox.WithListener(m),
			outbox.WithLogger(slog.New(slog.DiscardHandler)), outbox.WithRetention(time.Hour, time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	down, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	_ = down.Close(ctx)
	if _, err := newRelay(down).RelayOnce(ctx); err == nil {
		t.Fatal("publish to a closed bus succeeded")
	}
	bus, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close(ctx)
	r := newRelay(bus)
	for range 2 { // the second round is idle
		if _, err := r.RelayOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Sent times are Unix nanoseconds: move them back past the retention.
	if _, err := db.ExecContext(ctx, "UPDATE microkit_outbox SET sent_at = sent_at - $1", int64(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"microkit_outbox_events_relayed_total{table=microkit_outbox}":         2,
		"microkit_outbox_relay_failures_total{table=microkit_outbox}":         1,
		"microkit_outbox_events_pruned_total{table=microkit_outbox}":          2,
		"microkit_outbox_relay_round_duration_seconds{table=microkit_outbox}": 2, // the failed and the full round, not the idle one
	}
	if got := metricstest.Series(t, reg); !maps.Equal(got, want) {
		t.Errorf("series %v, want %v", got, want)
	}
	if err := metricstest.CheckRegistry(reg); err != nil {
		t.Fatal(err)
	}
}
