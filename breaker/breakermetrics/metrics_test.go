package breakermetrics_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/breaker/breakermetrics"
	"github.com/go-microkit/microkit/internal/metricstest"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

var errBoom = errors.New("boom")

func TestMetricsAndSpanEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		m, err := breakermetrics.New(reg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := breaker.New("payments", breaker.WithObserver(m.Observer),
			breaker.WithConsecutiveFailures(2), breaker.WithOpenDuration(time.Second),
			breaker.WithSlowCalls(time.Second, 1), breaker.WithCountWindow(100, 100))
		if err != nil {
			t.Fatal(err)
		}
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		ctx, span := tp.Tracer("test").Start(context.Background(), "checkout")

		_ = b.Execute(ctx, func(context.Context) error { return nil })
		_ = b.Execute(ctx, func(context.Context) error { time.Sleep(time.Second); return nil }) // slow
		_ = b.Execute(ctx, func(context.Context) error { return context.Canceled })
		_ = b.Execute(ctx, func(context.Context) error { return errBoom })
		_ = b.Execute(ctx, func(context.Context) error { return errBoom }) // opens
		_ = b.Execute(ctx, func(context.Context) error { return nil })     // rejected
		span.End()

		want := map[string]float64{
			`microkit_breaker_calls_total{breaker="payments",outcome="failure"}`:             2,
			`microkit_breaker_calls_total{breaker="payments",outcome="ignored"}`:             1,
			`microkit_breaker_calls_total{breaker="payments",outcome="rejected"}`:            1,
			`microkit_breaker_calls_total{breaker="payments",outcome="success"}`:             2,
			`microkit_breaker_slow_calls_total{breaker="payments"}`:                          1,
			`microkit_breaker_circuit_state{breaker="payments",state="closed"}`:              0,
			`microkit_breaker_circuit_state{breaker="payments",state="disabled"}`:            0,
			`microkit_breaker_circuit_state{breaker="payments",state="forced-open"}`:         0,
			`microkit_breaker_circuit_state{breaker="payments",state="half-open"}`:           0,
			`microkit_breaker_circuit_state{breaker="payments",state="open"}`:                1,
			`microkit_breaker_transitions_total{breaker="payments",from="closed",to="open"}`: 1,
		}
		compareMetrics(t, reg, want)
		// Every series of every state is present: the names follow the house
		// convention.
		if err := metricstest.CheckRegistry(reg); err != nil {
			t.Fatal(err)
		}

		spans := rec.Ended()
		if len(spans) != 1 {
			t.Fatalf("%d spans", len(spans))
		}
		events := spans[0].Events()
		if len(events) != 1 || events[0].Name != breakermetrics.SpanEventName {
			t.Fatalf("events = %+v", events)
		}
		attrs := map[string]string{}
		for _, kv := range events[0].Attributes {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		if attrs["breaker.name"] != "payments" || attrs["breaker.from"] != "closed" || attrs["breaker.to"] != "open" ||
			attrs["breaker.reason"] != "consecutive-failures" || attrs["breaker.open_until"] != "2000-01-01T00:00:02.000Z" {
			t.Fatalf("attributes = %v", attrs)
		}
		if !events[0].Time.Equal(time.Now()) {
			t.Fatalf("event at %v, want %v", events[0].Time, time.Now())
		}
	})
}

func TestWithoutSpanEventsAndConstLabels(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := breakermetrics.New(reg, breakermetrics.WithoutSpanEvents(), breakermetrics.WithConstLabels(prometheus.Labels{"service": "shop"}))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := breaker.New("db", breaker.WithObserver(m.Observer), breaker.WithConsecutiveFailures(1))
	rec := tracetest.NewSpanRecorder()
	ctx, span := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("t").Start(context.Background(), "op")
	_ = b.Execute(ctx, func(context.Context) error { return errBoom })
	span.End()
	if n := len(rec.Ended()[0].Events()); n != 0 {
		t.Fatalf("%d span events with span events off", n)
	}
	got := gather(t, reg)
	if v, ok := got[`microkit_breaker_transitions_total{breaker="db",from="closed",service="shop",to="open"}`]; !ok || v != 1 {
		t.Fatalf("metrics = %v", got)
	}
}

func TestNewInvalid(t *testing.T) {
	if _, err := breakermetrics.New(nil); !errors.Is(err, breakermetrics.ErrInvalidOption) {
		t.Fatalf("nil registerer: %v", err)
	}
	if _, err := breakermetrics.New(prometheus.NewRegistry(), breakermetrics.WithConstLabels(prometheus.Labels{"state": "x"})); !errors.Is(err, breakermetrics.ErrInvalidOption) {
		t.Fatalf("taken label: %v", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := breakermetrics.New(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := breakermetrics.New(reg); err == nil {
		t.Fatal("registering twice succeeded")
	}
}

// gather returns every sample in reg as `name{label="value",...}` → value,
// labels sorted by name.
func gather(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			out[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	return out
}

func compareMetrics(t *testing.T, reg prometheus.Gatherer, want map[string]float64) {
	t.Helper()
	got := gather(t, reg)
	if !maps.Equal(got, want) {
		t.Fatalf("metrics:\n%v\nwant:\n%v", got, want)
	}
}

func TestSetEvictionDropsSeries(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := breakermetrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := breaker.NewSet("hosts", 2, breaker.WithObserver(m.Observer), breaker.WithConsecutiveFailures(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b", "c", "d", "e"} {
		_ = s.Get(key).Execute(context.Background(), func(context.Context) error { return errBoom })
	}
	breakers := map[string]bool{}
	for k := range gather(t, reg) {
		_, rest, _ := strings.Cut(k, `breaker="`)
		name, _, _ := strings.Cut(rest, `"`)
		breakers[name] = true
	}
	if len(breakers) != 2 || !breakers["hosts/d"] || !breakers["hosts/e"] {
		t.Fatalf("series for breakers %v, want only the two the set holds", breakers)
	}
}

func TestEvictedBreakerStillInUseAddsNoSeries(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := breakermetrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := breaker.NewSet("hosts", 1, breaker.WithObserver(m.Observer), breaker.WithConsecutiveFailures(1))
	if err != nil {
		t.Fatal(err)
	}
	held := s.Get("a") // a caller holds on to it, as a Transport does mid-request
	s.Get("b")         // evicts "a"
	_ = held.Execute(context.Background(), func(context.Context) error { return errBoom })
	if got := held.State(); got != breaker.Open {
		t.Fatalf("held breaker %v, want open", got)
	}
	for k := range gather(t, reg) {
		if strings.Contains(k, `breaker="hosts/a"`) {
			t.Fatalf("series %s of the evicted breaker came back", k)
		}
	}
	s.Get("a") // made again, evicting "b": a fresh, closed breaker
	held.Reset(context.Background())
	held.ForceOpen(context.Background())
	got := gather(t, reg)
	for k, want := range map[string]float64{
		`microkit_breaker_circuit_state{breaker="hosts/a",state="closed"}`:      1,
		`microkit_breaker_circuit_state{breaker="hosts/a",state="forced-open"}`: 0,
		`microkit_breaker_circuit_state{breaker="hosts/a",state="open"}`:        0,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v: the old breaker wrote over the new one's state", k, got[k], want)
		}
	}
}
