package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/sqldialect"
)

// The restart test parks sagas in a child process (this test binary
// again, running TestWaitRestartChild), kills it with SIGKILL, lets their
// wake-up time pass while no process runs, then starts a second child:
// it delivers the signals that arrived meanwhile, and its Recover fires
// the timers and timeouts that fell due.

const (
	restartSagas = 12                  // of each kind
	envWaitChild = "SAGA_WAIT_CHILD"   // "park" or "wake"
	envWakeAt    = "SAGA_WAIT_WAKE_AT" // Unix nanoseconds: when the waits end
)

func TestWaitRestart(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			// The first child must park every saga before their wake-up
			// time, which the test then waits out, since no process may run
			// meanwhile: on a machine too busy for the time given, it tries
			// again with twice as much.
			for budget := 3 * time.Second; ; budget *= 2 {
				d := b.Open(t)
				createParticipantTables(t, d.db)
				wake := time.Now().Add(budget)
				env := []string{envDriver + "=" + d.driver, envDSN + "=" + d.dsn, envDialect + "=" + d.dialect.String(),
					envWakeAt + "=" + strconv.FormatInt(wake.UnixNano(), 10)}
				runWaitChild(t, append(env, envWaitChild+"=park"), true)
				if time.Now().After(wake) {
					if budget >= 24*time.Second {
						t.Fatalf("the first child took more than %v to park %d sagas", budget, 3*restartSagas)
					}
					continue
				}
				parked, err := d.store(t).List(context.Background(), saga.Filter{Statuses: []saga.Status{saga.StatusWaiting}})
				if err != nil || len(parked) != 3*restartSagas {
					t.Fatalf("%d sagas parked, %v; want %d", len(parked), err, 3*restartSagas)
				}
				time.Sleep(time.Until(wake)) // two processes cannot share a fake clock
				runWaitChild(t, append(env, envWaitChild+"=wake"), false)
				verifyRestart(t, d)
				return
			}
		})
	}
}

// runWaitChild runs a child; kill: SIGKILL it once it says it parked.
func runWaitChild(t *testing.T, env []string, kill bool) {
	t.Helper()
	cmd, sc, stderr := startChild(t, "TestWaitRestartChild", env)
	done := false
	for sc.Scan() {
		switch line := sc.Text(); {
		case line == "wait-child: parked" && kill:
			_ = cmd.Process.Signal(syscall.SIGKILL)
		case line == "wait-child: done":
			done = true
		case strings.HasPrefix(line, "wait-child:"):
			t.Log(line)
		}
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if kill {
		if !errors.As(err, &exit) || !exit.Sys().(syscall.WaitStatus).Signaled() {
			t.Fatalf("the first child was not killed: %v\n%s", err, stderr.String())
		}
		return
	}
	if err != nil || !done {
		t.Fatalf("the second child failed: %v\n%s", err, stderr.String())
	}
}

// verifyRestart checks every saga's end and its participants' effects:
// the timers completed, the waits whose signal came while no process ran
// completed, and those whose signal never came timed out and were undone.
func verifyRestart(t *testing.T, d *database) {
	t.Helper()
	ctx := context.Background()
	count := func(table, key string) int {
		var n int
		if err := d.db.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE key = "+map[bool]string{true: "$1", false: "?"}[d.dialect == sqldialect.Postgres], key).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	store := d.store(t)
	for i := range restartSagas {
		for _, kind := range []string{"timer", "paid", "unpaid"} {
			id := fmt.Sprint(kind, i)
			rec, err := store.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want, effects, undos := saga.StatusCompleted, []int{1, 1, 1}, []int{0, 0, 0}
			if kind == "unpaid" {
				want, effects, undos = saga.StatusCompensated, []int{1, 1, 0}, []int{1, 1, 0}
			}
			if rec.Status != want {
				t.Errorf("%s ended %s (%s), want %s", id, rec.Status, rec.Error, want)
			}
			for s, step := range []string{"reserve", "wait", "ship"} {
				key := id + "/" + step
				if step == "wait" && kind == "timer" {
					continue // a timer has no effect
				}
				if got := count("crash_effects", key); got != effects[s] {
					t.Errorf("%s: %d effects, want %d", key, got, effects[s])
				}
				if got := count("crash_undos", key); got != undos[s] {
					t.Errorf("%s: %d undos, want %d", key, got, undos[s])
				}
			}
		}
	}
}

// TestWaitRestartChild is the child process of TestWaitRestart; run
// directly, without its environment, it has nothing to do and passes.
func TestWaitRestartChild(t *testing.T) {
	mode := os.Getenv(envWaitChild)
	if mode == "" {
		return
	}
	fail := func(err error) {
		fmt.Println("wait-child: error", err)
		os.Exit(3)
	}
	db, dialect, store := openChildStore(fail)
	nanos, _ := strconv.ParseInt(os.Getenv(envWakeAt), 10, 64)
	wake := time.Unix(0, nanos)
	p := &crashParticipant{db: db, dialect: dialect}
	step := p.step
	until := func(*crashState) time.Time { return wake }
	timer := step("wait")
	timer.Execute, timer.Compensate, timer.Wait = nil, nil, &saga.Wait[crashState]{Until: until}
	pay := step("wait")
	pay.Wait = &saga.Wait[crashState]{Signal: true, Until: until}
	timerDef, err := saga.New("restart-timer", step("reserve"), timer, step("ship"))
	if err != nil {
		fail(err)
	}
	payDef, err := saga.New("restart-pay", step("reserve"), pay, step("ship"))
	if err != nil {
		fail(err)
	}
	o, err := saga.NewOrchestrator(store)
	if err != nil {
		fail(err)
	}
	if err := o.Register(timerDef, payDef); err != nil {
		fail(err)
	}
	ctx := context.Background()
	switch mode {
	case "park":
		for i := range restartSagas {
			for kind, def := range map[string]*saga.Saga[crashState]{"timer": timerDef, "paid": payDef, "unpaid": payDef} {
				if _, err := def.Run(ctx, o, crashState{}, saga.WithID(fmt.Sprint(kind, i))); !errors.Is(err, saga.ErrWaiting) {
					fail(fmt.Errorf("run: %w", err))
				}
			}
		}
		fmt.Println("wait-child: parked")
		select {} // until killed
	case "wake":
		// The payments confirmed while no process ran, delivered as a
		// bus would redeliver them; then what fell due.
		for i := range restartSagas {
			if err := o.Signal(ctx, fmt.Sprintf("paid%d/wait", i), "payment.confirmed", nil); err != nil {
				fail(fmt.Errorf("signal: %w", err))
			}
		}
		res, err := o.Recover(ctx)
		if err != nil {
			fail(err)
		}
		fmt.Printf("wait-child: recovered %+v\n", res)
		if err := o.Close(ctx); err != nil {
			fail(err)
		}
		fmt.Println("wait-child: done")
	}
}
