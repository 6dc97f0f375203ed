package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagatest"
	"github.com/go-microkit/microkit/saga/sqlstore"
	"github.com/go-microkit/microkit/sqldialect"
)

// BenchmarkWake measures waiting sagas on each database (see
// sagatest.BenchWake): b.N sagas are parked, then the CPU time this
// process (the orchestrator, its timer loop running) spends in 2 seconds
// while they wait (idle-cpu-%, of one core), then the latency from Signal
// to the start of the step after the wait (p50, p99) and the parked sagas
// woken per second, signalled one at a time and 8 at once (on
// PostgreSQL each signal is 4 statements: the signal stored and its
// parked saga returned in one, then the signal taken and the saga taken
// back in the transaction of the last step's start, and the completion).
// With 10,000 sagas on PostgreSQL:
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

// parkTwice waits for the signal of "<id>/pay", confirms (a Local step
// that inserts the order row and parks the saga for the next wait), waits
// for "<id>/ship", then ships (a Local step), as the shop's order does.
func parkTwice(t testing.TB, d *database) *saga.Saga[localState] {
	t.Helper()
	def, err := saga.New("park-twice",
		saga.Step[localState]{Name: "charge", Execute: func(context.Context, *localState) error { return nil }},
		saga.Step[localState]{Name: "pay", Wait: &saga.Wait[localState]{Signal: true}},
		saga.Step[localState]{Name: "confirm", Local: true, Execute: func(ctx context.Context, s *localState) error {
			s.Order = "confirmed"
			return insertOrder(ctx, d.dialect)
		}},
		saga.Step[localState]{Name: "ship", Wait: &saga.Wait[localState]{Signal: true}},
		saga.Step[localState]{Name: "shipped", Local: true, Execute: func(_ context.Context, s *localState) error {
			s.Order = "shipped"
			return nil
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return def
}

// withoutPark is a store's WaitStore and TxStore, without its ParkStore:
// the orchestrator looks for a signal after each park and for the saga
// after each signal.
type withoutPark struct {
	saga.WaitStore
	tx saga.TxStore
}

func (s withoutPark) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.tx.InTx(ctx, fn)
}

// The statements a saga's parks and signals send: over the ParkStore, a
// park is one write that also names the saga as its key's waiter, with no
// look for an early signal after it, and on PostgreSQL a signal is stored
// and its waiting saga found in one statement.
func TestParkAndSignalStatements(t *testing.T) {
	// Statements, transactions: of a run to its first park, of the
	// payment's signal (the Local step confirm, which parks the saga
	// again), and of the warehouse's (the Local step shipped).
	type calls struct{ run, paid, shipped [2]int64 }
	want := map[sqldialect.Dialect]map[bool]calls{
		// Without: the create, the park, its look; the signal, the
		// lookup, in the confirm's transaction the take, the order row
		// and the park, then the look; the signal, the lookup, the take
		// and the end in one transaction.
		// With: the create, the park; the signal (and its waiter), the
		// take, the order row, the park; the signal, the take, the end.
		sqldialect.Postgres: {false: {[2]int64{3, 0}, [2]int64{6, 1}, [2]int64{4, 1}}, true: {[2]int64{2, 0}, [2]int64{4, 1}, [2]int64{3, 1}}},
		// SQLite's park writes the record and the mark in the group
		// commit's transaction, its signal is stored and its waiter read
		// in two statements, and its take is a write and a read.
		sqldialect.SQLite: {false: {[2]int64{3, 0}, [2]int64{7, 1}, [2]int64{5, 1}}, true: {[2]int64{3, 1}, [2]int64{7, 1}, [2]int64{5, 1}}},
	}
	for _, b := range backends {
		for _, park := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/park-store-%v", b.Name, park), func(t *testing.T) {
				d := b.Open(t)
				createOrders(t, d)
				var n sqltest.Calls
				counted := sqltest.CountingDB(t, d.db, d.dsn, &n)
				sqldialect.SetPoolSize(counted, 4)
				s, err := sqlstore.New(counted, d.dialect)
				if err != nil {
					t.Fatal(err)
				}
				var store saga.Store = s
				if !park {
					store = withoutPark{WaitStore: s, tx: s}
				}
				def := parkTwice(t, d)
				o := localOrchestrator(t, store, def)
				ctx := context.Background()
				took := func() [2]int64 {
					defer n.Reset()
					if b, c := n.Begins.Load(), n.Commits.Load(); b != c {
						t.Errorf("%d transactions begun, %d committed", b, c)
					}
					return [2]int64{n.Stmts.Load(), n.Begins.Load()}
				}
				var got calls
				if _, err := def.Run(ctx, o, localState{}, saga.WithID("o1")); !errors.Is(err, saga.ErrWaiting) {
					t.Fatalf("Run = %v, want ErrWaiting", err)
				}
				got.run = took()
				if err := o.Signal(ctx, "o1/pay", "paid", nil); err != nil {
					t.Fatal(err)
				}
				got.paid = took()
				if err := o.Signal(ctx, "o1/ship", "shipped", nil); err != nil {
					t.Fatal(err)
				}
				got.shipped = took()
				if rec, err := s.Get(ctx, "o1"); err != nil || rec.Status != saga.StatusCompleted {
					t.Fatalf("saga = %+v, %v; want completed", rec, err)
				}
				if got != want[d.dialect][park] {
					t.Errorf("statements and transactions: run %v, paid %v, shipped %v; want %+v", got.run, got.paid, got.shipped, want[d.dialect][park])
				}
			})
		}
	}
}
