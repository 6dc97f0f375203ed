package sagametrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"testing"

	"github.com/go-microkit/microkit/internal/metricstest"
	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagametrics"
	"github.com/prometheus/client_golang/prometheus"
)

type state struct{}

func ok(context.Context, *state) error { return nil }

func fail(context.Context, *state) error { return retry.Permanent(errors.New("declined")) }

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := sagametrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sagametrics.New(reg); err == nil {
		t.Error("registering the metrics twice succeeded")
	}
	o, err := saga.NewOrchestrator(saga.NewMemoryStore(), saga.WithListener(m),
		saga.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		saga.WithCompensationRetry(retry.Policy{}))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(context.Background())
	completes, _ := saga.New("completes", saga.Step[state]{Name: "a", Execute: ok})
	compensates, _ := saga.New("compensates",
		saga.Step[state]{Name: "a", Execute: ok, Compensate: ok}, saga.Step[state]{Name: "b", Execute: fail})
	stuck, _ := saga.New("stuck",
		saga.Step[state]{Name: "charge", Execute: ok, Compensate: func(context.Context, *state) error { return errors.New("provider down") }},
		saga.Step[state]{Name: "b", Execute: fail})
	waits, _ := saga.New("waits", saga.Step[state]{Name: "pay", Wait: &saga.Wait[state]{Signal: true}})
	if err := o.Register(completes, compensates, stuck, waits); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if _, err := completes.Run(ctx, o, state{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := compensates.Run(ctx, o, state{}); !errors.Is(err, saga.ErrCompensated) {
		t.Fatal(err)
	}
	if _, err := stuck.Run(ctx, o, state{}); !errors.Is(err, saga.ErrCompensationFailed) {
		t.Fatal(err)
	}
	if _, err := waits.Run(ctx, o, state{}, saga.WithID("w")); !errors.Is(err, saga.ErrWaiting) {
		t.Fatal(err)
	}
	if err := o.Signal(ctx, "w/pay", "paid", nil); err != nil {
		t.Fatal(err)
	}

	if err := metricstest.CheckRegistry(reg); err != nil {
		t.Error(err)
	}
	got, series := map[string]float64{}, 0
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			if f.GetName() == "microkit_saga_step_duration_seconds" {
				series++
				continue
			}
			got[f.GetName()+"/"+metric.GetLabel()[0].GetValue()] = metric.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"microkit_saga_started_total/completes":         2,
		"microkit_saga_started_total/compensates":       1,
		"microkit_saga_started_total/stuck":             1,
		"microkit_saga_completed_total/completes":       2,
		"microkit_saga_compensated_total/compensates":   1,
		"microkit_saga_compensation_failed_total/stuck": 1,
		"microkit_saga_started_total/waits":             1,
		"microkit_saga_parked_total/waits":              1,
		"microkit_saga_woken_total/waits":               1,
		"microkit_saga_completed_total/waits":           1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("counters = %v, want %v", got, want)
	}
	// completes/a ok; compensates/{a ok, b error, a compensate ok};
	// stuck/{charge ok, b error, charge compensate error}
	if series != 7 {
		t.Errorf("step duration series = %d, want 7", series)
	}
}
