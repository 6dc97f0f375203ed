package saga_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagatest"
)

type benchState struct {
	OrderID string `json:"order_id"`
	Amount  int    `json:"amount"`
}

func noop(context.Context, *benchState) error { return nil }

// BenchmarkRun3NoopSteps measures the orchestration cost alone: a 3-step
// saga with no-op steps (and compensations) on the in-memory store, every
// transition persisted (4 store writes, state encoded as JSON 3 times).
func BenchmarkRun3NoopSteps(b *testing.B) {
	b.Run("keep-records", func(b *testing.B) { benchmarkRun3NoopSteps(b, &saga.MemoryStore{}) })
	b.Run("drop-finished", func(b *testing.B) { benchmarkRun3NoopSteps(b, &saga.MemoryStore{DropFinished: true}) })
}

func benchmarkRun3NoopSteps(b *testing.B, store *saga.MemoryStore) {
	def, err := saga.New("bench",
		saga.Step[benchState]{Name: "reserve", Execute: noop, Compensate: noop},
		saga.Step[benchState]{Name: "charge", Execute: noop, Compensate: noop},
		saga.Step[benchState]{Name: "ship", Execute: noop, Compensate: noop},
	)
	if err != nil {
		b.Fatal(err)
	}
	runBench(b, def, store)
}

// runBench runs def on an orchestrator over store for the benchmark's
// loop, reporting allocations and the CPU time per run.
func runBench(b *testing.B, def *saga.Saga[benchState], store saga.Store) {
	o, err := saga.NewOrchestrator(store)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close(context.Background())
	if err := o.Register(def); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	state := benchState{OrderID: "o-1", Amount: 1999}
	b.ReportAllocs()
	cpu := cpuTime(b)
	for b.Loop() {
		if _, err := def.Run(ctx, o, state); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the process's user and system CPU time. On a shared,
// loaded machine the wall time per op (ns/op) includes waiting for a core;
// the CPU time per op does not.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRunLocalSteps measures a saga shaped like the example shop's
// order saga (order, reserve, charge, confirm; no-op steps) on the
// in-memory store, with every step remote and with order and confirm
// Local, and reports the store writes per run: 5 and 3.
func BenchmarkRunLocalSteps(b *testing.B) {
	for _, tt := range []struct {
		name  string
		local bool
	}{{"remote", false}, {"local", true}} {
		b.Run(tt.name, func(b *testing.B) {
			step := func(name string, local bool) saga.Step[benchState] {
				return saga.Step[benchState]{Name: name, Execute: noop, Compensate: noop, Local: local}
			}
			def, err := saga.New("bench-local",
				step("order", tt.local), step("reserve", false), step("charge", false), step("confirm", tt.local))
			if err != nil {
				b.Fatal(err)
			}
			store := &countingStore{MemoryStore: &saga.MemoryStore{DropFinished: true}}
			runBench(b, def, store)
			b.ReportMetric(float64(store.taken())/float64(b.N), "writes/op")
		})
	}
}

// BenchmarkWake measures waiting sagas in a MemoryStore (see
// sagatest.BenchWake): the process's CPU while b.N sagas wait, the
// latency from Signal to the step after the wait, and the sagas woken per
// second.
//
//	go test -run '^$' -bench Wake -benchtime 10000x ./saga/
func BenchmarkWake(b *testing.B) {
	sagatest.BenchWake(b, func(*testing.B) saga.WaitStore { return saga.NewMemoryStore() })
}
