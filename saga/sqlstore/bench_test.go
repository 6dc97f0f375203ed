package sqlstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/sqldialect"
)

type benchState struct {
	OrderID string `json:"order_id"`
	Amount  int    `json:"amount"`
}

func noop(context.Context, *benchState) error { return nil }

// BenchmarkDurable3Steps measures durable sagas per second: a 3-step saga
// with no-op steps, every transition persisted (4 writes per saga, each one
// autocommitted statement), run one at a time and 16 at once.
func BenchmarkDurable3Steps(b *testing.B) {
	def, err := saga.New("bench",
		saga.Step[benchState]{Name: "reserve", Execute: noop, Compensate: noop},
		saga.Step[benchState]{Name: "charge", Execute: noop, Compensate: noop},
		saga.Step[benchState]{Name: "ship", Execute: noop, Compensate: noop},
	)
	if err != nil {
		b.Fatal(err)
	}
	benchBackends := append(backends[:len(backends):len(backends)],
		sqltest.Backend[*database]{Name: "sqlite-sync-normal", Open: openSQLiteSyncNormal})
	for _, backend := range benchBackends {
		for _, concurrent := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/concurrent-%d", backend.Name, concurrent), func(b *testing.B) {
				runDurable(b, backend, def, concurrent)
			})
		}
	}
}

// runDurable runs def concurrent at a time on a fresh database of backend
// for the benchmark's loop, and reports sagas per second.
func runDurable(b *testing.B, backend sqltest.Backend[*database], def *saga.Saga[benchState], concurrent int) {
	d := backend.Open(b)
	sqldialect.SetPoolSize(d.db, concurrent+1)
	o, err := saga.NewOrchestrator(d.store(b))
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close(context.Background())
	if err := o.Register(def); err != nil {
		b.Fatal(err)
	}
	state := benchState{OrderID: "o-1", Amount: 1999}
	b.ReportAllocs()
	b.SetParallelism((concurrent + 1) / 2) // GOMAXPROCS is 2 on the reference machine
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := def.Run(context.Background(), o, state); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sagas/s")
}

// openSQLiteSyncNormal is SQLite with synchronous=NORMAL: in WAL mode a
// commit survives the process's crash but not a power cut.
func openSQLiteSyncNormal(t testing.TB) *database {
	t.Helper()
	dsn := strings.Replace(sqltest.SQLiteFile(t, "sagas.db"), "synchronous(FULL)", "synchronous(NORMAL)", 1)
	db, err := sqldb.Open(sqldialect.SQLite, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return migrated(t, &database{dialect: sqldialect.SQLite, driver: "sqlite", dsn: dsn, db: db})
}

// BenchmarkDurableLocalSteps measures a saga shaped like the example
// shop's order saga (order, reserve, charge, confirm; no-op steps) with
// every step remote (5 writes per saga) and with order and confirm Local
// (3 writes, two of them transactions that a Local step would share with
// its own writes), run one at a time and 16 at once.
func BenchmarkDurableLocalSteps(b *testing.B) {
	for _, backend := range backends {
		for _, local := range []bool{false, true} {
			step := func(name string, l bool) saga.Step[benchState] {
				return saga.Step[benchState]{Name: name, Execute: noop, Compensate: noop, Local: l && local}
			}
			def, err := saga.New("bench-local", step("order", true), step("reserve", false), step("charge", false), step("confirm", true))
			if err != nil {
				b.Fatal(err)
			}
			for _, concurrent := range []int{1, 16} {
				b.Run(fmt.Sprintf("%s/local-%t/concurrent-%d", backend.Name, local, concurrent), func(b *testing.B) {
					runDurable(b, backend, def, concurrent)
				})
			}
		}
	}
}
