package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"

	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sqlstore"
	"github.com/go-microkit/microkit/sqldialect"
)

type localState struct {
	Order string `json:"order"`
}

// insertOrder is a Local step's business write: a row of local_orders
// keyed by the saga's ID, in the store's transaction.
func insertOrder(ctx context.Context, d sqldialect.Dialect) error {
	tx, ok := sqlstore.TxFromContext(ctx)
	if !ok {
		return errors.New("no transaction in the Local step's context")
	}
	ph := "?"
	if d == sqldialect.Postgres {
		ph = "$1"
	}
	id, _ := saga.IDFromContext(ctx)
	_, err := tx.ExecContext(ctx, "INSERT INTO local_orders (id) VALUES ("+ph+")", id)
	return err
}

func createOrders(t testing.TB, d *database) {
	t.Helper()
	if _, err := d.db.ExecContext(context.Background(), "CREATE TABLE local_orders (id TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
}

func orders(t testing.TB, d *database) int {
	t.Helper()
	var n int
	if err := d.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM local_orders").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// localSaga is reserve (remote, a no-op) then confirm (Local: inserts the
// order row), then calls confirm, whose error fails the step.
func localSaga(t testing.TB, d sqldialect.Dialect, confirm func(ctx context.Context) error) *saga.Saga[localState] {
	t.Helper()
	def, err := saga.New("local",
		saga.Step[localState]{Name: "reserve", Execute: func(context.Context, *localState) error { return nil }},
		saga.Step[localState]{Name: "confirm", Local: true, Execute: func(ctx context.Context, s *localState) error {
			if err := insertOrder(ctx, d); err != nil {
				return err
			}
			s.Order = "confirmed"
			return confirm(ctx)
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return def
}

func localOrchestrator(t testing.TB, store saga.Store, def saga.Definition, opts ...saga.Option) *saga.Orchestrator {
	t.Helper()
	o, err := saga.NewOrchestrator(store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close(context.Background()) })
	if err := o.Register(def); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestLocalStepCommitsWithRecord(t *testing.T) {
	for _, b := range backends {
		// A pool of one connection is the usual SQLite setting: the
		// transaction holds it, so every write inside must use it.
		for _, pool := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s/pool-%d", b.Name, pool), func(t *testing.T) {
				d := b.Open(t)
				sqldialect.SetPoolSize(d.db, pool)
				createOrders(t, d)
				store := d.store(t)
				fail := errors.New("confirm refused")
				def := localSaga(t, d.dialect, func(ctx context.Context) error {
					if id, _ := saga.IDFromContext(ctx); id == "bad" {
						return retry.Permanent(fail)
					}
					return nil
				})
				o := localOrchestrator(t, store, def)
				ctx := context.Background()

				// Sagas at once: their writes share group commits on SQLite,
				// which must not wait for a connection a Local step holds.
				var wg sync.WaitGroup
				for i := range 8 {
					wg.Go(func() {
						if _, err := def.Run(ctx, o, localState{}, saga.WithID(fmt.Sprint("ok", i))); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				if n := orders(t, d); n != 8 {
					t.Errorf("%d order rows, want 8", n)
				}
				rec, err := store.Get(ctx, "ok0")
				if err != nil {
					t.Fatal(err)
				}
				if rec.Status != saga.StatusCompleted || rec.Version != 2 || string(rec.State) != `{"order":"confirmed"}` {
					t.Errorf("record %s at version %d, state %s; want completed in 2 writes", rec.Status, rec.Version, rec.State)
				}

				// An Execute error leaves neither the row nor a done mark.
				if _, err := def.Run(ctx, o, localState{}, saga.WithID("bad")); !errors.Is(err, fail) || !errors.Is(err, saga.ErrCompensated) {
					t.Fatalf("Run = %v, want compensated after confirm", err)
				}
				if n := orders(t, d); n != 8 {
					t.Errorf("%d order rows after a failed Local step, want 8", n)
				}
				rec, err = store.Get(ctx, "bad")
				if err != nil {
					t.Fatal(err)
				}
				if sr := rec.Steps[1]; rec.Status != saga.StatusCompensated || sr.Status != saga.StepFailed || sr.Seq != 0 {
					t.Errorf("record %s, confirm %+v", rec.Status, sr)
				}
			})
		}
	}
}

const envLocalCrashChild = "SAGA_LOCAL_CRASH_CHILD"

// TestLocalStepCrash kills a child process inside a Local step, after its
// insert: neither the row nor the step's done mark may survive, and
// Recover then runs the step once.
func TestLocalStepCrash(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			d := b.Open(t)
			createOrders(t, d)
			cmd := exec.Command(os.Args[0], "-test.run=^TestLocalStepCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), envLocalCrashChild+"=1", envDriver+"="+d.driver, envDSN+"="+d.dsn, envDialect+"="+d.dialect.String())
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || !exit.Sys().(syscall.WaitStatus).Signaled() {
				t.Fatalf("the child was not killed: %v\n%s", err, out)
			}
			if n := orders(t, d); n != 0 {
				t.Errorf("%d order rows after a crash inside the Local step, want 0", n)
			}
			store := d.store(t)
			ctx := context.Background()
			rec, err := store.Get(ctx, "crash")
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status != saga.StatusRunning || rec.Steps[1].Status != saga.StepPending {
				t.Fatalf("record %s, confirm %+v; want running, confirm not done", rec.Status, rec.Steps[1])
			}
			calls := 0
			def := localSaga(t, d.dialect, func(context.Context) error { calls++; return nil })
			o := localOrchestrator(t, store, def, saga.WithOwnerID("local-crash"))
			if res, err := o.Recover(ctx); err != nil || res.Completed != 1 {
				t.Fatalf("Recover = %+v, %v", res, err)
			}
			if calls != 1 || orders(t, d) != 1 {
				t.Errorf("Recover ran confirm %d times, %d order rows; want once, 1", calls, orders(t, d))
			}
		})
	}
}

// TestLocalStepCrashChild is the child of TestLocalStepCrash; run directly,
// without its environment, it has nothing to do and passes.
func TestLocalStepCrashChild(t *testing.T) {
	if os.Getenv(envLocalCrashChild) == "" {
		return
	}
	dialect, err := sqldialect.Parse(os.Getenv(envDialect))
	if err != nil {
		t.Fatal(err)
	}
	d := &database{dialect: dialect, driver: os.Getenv(envDriver), dsn: os.Getenv(envDSN)}
	if d.db, err = sql.Open(d.driver, d.dsn); err != nil {
		t.Fatal(err)
	}
	def := localSaga(t, dialect, func(context.Context) error {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL) // after the insert, before the commit
		select {}
	})
	o := localOrchestrator(t, d.store(t), def, saga.WithOwnerID("local-crash"))
	_, err = def.Run(context.Background(), o, localState{}, saga.WithID("crash"))
	t.Fatalf("Run returned %v; the child should have died", err)
}

// payThenConfirm is a saga that waits for the signal of key
// "<saga id>/pay", then confirms: a Local step that inserts the order row.
func payThenConfirm(t testing.TB, d *database) *saga.Saga[localState] {
	t.Helper()
	def, err := saga.New("pay-confirm",
		saga.Step[localState]{Name: "pay", Wait: &saga.Wait[localState]{Signal: true}},
		saga.Step[localState]{Name: "confirm", Local: true, Execute: func(ctx context.Context, s *localState) error {
			s.Order = "confirmed"
			return insertOrder(ctx, d.dialect)
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return def
}

// A saga woken from a wait whose next step is Local is claimed by that
// step's transaction: the wake-up costs no write of its own, and two
// orchestrators that wake it at once (the signal delivered twice, the
// timer loop looking) commit the step's business write once between them.
func TestWakeIntoLocalStepCommitsOnce(t *testing.T) {
	const n = 12
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			d := b.Open(t)
			sqldialect.SetPoolSize(d.db, 8)
			createOrders(t, d)
			store := d.store(t)
			def := payThenConfirm(t, d)
			os := []*saga.Orchestrator{localOrchestrator(t, store, def), localOrchestrator(t, store, def)}
			ctx := context.Background()
			for i := range n {
				if _, err := def.Run(ctx, os[0], localState{}, saga.WithID(fmt.Sprint("w", i))); !errors.Is(err, saga.ErrWaiting) {
					t.Fatalf("Run = %v", err)
				}
			}
			var wg sync.WaitGroup
			for _, o := range os {
				for range 2 {
					wg.Go(func() {
						for i := range n {
							if err := o.Signal(ctx, fmt.Sprintf("w%d/pay", i), "paid", nil); err != nil && !errors.Is(err, saga.ErrSagaFinished) {
								t.Errorf("Signal: %v", err)
							}
						}
					})
				}
			}
			wg.Wait()
			if got := orders(t, d); got != n {
				t.Errorf("%d order rows, want %d", got, n)
			}
			for i := range n {
				rec, err := store.Get(ctx, fmt.Sprint("w", i))
				if err != nil {
					t.Fatal(err)
				}
				// The start (with the park: pay has no Execute), then the
				// Local step's write, which claims the saga and completes it.
				if rec.Status != saga.StatusCompleted || rec.Version != 2 {
					t.Errorf("%s is %s at version %d, want completed in 2 writes", rec.ID, rec.Status, rec.Version)
				}
			}
		})
	}
}

// failingUpdates fails the next fail Updates of its store, as a database
// that goes away at that write.
type failingUpdates struct {
	*sqlstore.Store
	mu   sync.Mutex
	fail int
}

func (s *failingUpdates) Update(ctx context.Context, r *saga.Record) error {
	s.mu.Lock()
	fail := s.fail > 0
	if fail {
		s.fail--
	}
	s.mu.Unlock()
	if fail {
		return errors.New("the database went away")
	}
	return s.Store.Update(ctx, r)
}

// The signal that wakes a saga is taken in the transaction of the saga's
// first write after the wake-up (here its Local step's): a drive that
// stops at that write leaves the saga waiting with its signal pending,
// and the signal delivered again continues it.
func TestWakeTakesTheSignalWithTheFirstWrite(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			d := b.Open(t)
			createOrders(t, d)
			store := &failingUpdates{Store: d.store(t)}
			def := payThenConfirm(t, d)
			o := localOrchestrator(t, store, def)
			ctx := context.Background()
			if _, err := def.Run(ctx, o, localState{}, saga.WithID("w")); !errors.Is(err, saga.ErrWaiting) {
				t.Fatalf("Run = %v", err)
			}
			store.mu.Lock()
			store.fail = 1
			store.mu.Unlock()
			if err := o.Signal(ctx, "w/pay", "paid", nil); err == nil {
				t.Fatal("Signal = nil; want the error of the write that failed")
			}
			if rec, err := store.Get(ctx, "w"); err != nil || rec.Status != saga.StatusWaiting {
				t.Fatalf("after the failed drive: %+v, %v; want waiting", rec, err)
			}
			if sig, err := store.GetSignal(ctx, "w/pay"); err != nil || sig.SagaID != "" {
				t.Fatalf("signal %+v, %v; want it pending", sig, err)
			}
			if n := orders(t, d); n != 0 {
				t.Fatalf("%d order rows after the rolled-back step", n)
			}
			if err := o.Signal(ctx, "w/pay", "paid", nil); err != nil {
				t.Fatal(err)
			}
			rec, err := store.Get(ctx, "w")
			if err != nil || rec.Status != saga.StatusCompleted {
				t.Fatalf("delivered again: %+v, %v", rec, err)
			}
			if sig, err := store.GetSignal(ctx, "w/pay"); err != nil || sig.SagaID != "w" {
				t.Errorf("signal %+v, %v; want it taken by w", sig, err)
			}
			if n := orders(t, d); n != 1 {
				t.Errorf("%d order rows, want 1", n)
			}
		})
	}
}
