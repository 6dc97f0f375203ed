package sqlstore_test

import (
	"testing"

	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagatest"
	"github.com/go-microkit/microkit/sqldialect"
)

// BenchmarkWake measures waiting sagas on each database (see
// sagatest.BenchWake): b.N sagas are parked, then the CPU time this
// process (the orchestrator, its timer loop running) spends in 2 seconds
// while they wait (idle-cpu-%, of one core), then the latency from Signal
// to the start of the step after the wait (p50, p99) and the parked sagas
// woken per second, signalled one at a time and 8 at once (each signal
// stores the signal, finds the saga by its key, takes it back, takes the
// signal and runs the last step: 6 statements). With 10,000 sagas on
// PostgreSQL:
//
//	go test -run '^$' -bench 'Wake/postgres' -benchtime 10000x ./saga/sqlstore/
func BenchmarkWake(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend.Name, func(b *testing.B) {
			sagatest.BenchWake(b, func(b *testing.B) saga.WaitStore {
				d := backend.Open(b)
				sqldialect.SetPoolSize(d.db, 9)
				return d.store(b)
			})
		})
	}
}
