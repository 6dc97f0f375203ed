package sqlstore_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-microkit/microkit/saga"
)

// The crash test runs sagas in a child process (this test binary again,
// running TestCrashChild) and kills it with SIGKILL at varied points: the
// child kills itself before or after a participant's effect, or right after
// the N-th transition is persisted (a step boundary), or the parent kills
// it after a random number of effects. Each new child first calls Recover.
// At the end, the participants' own tables must show every saga completed
// with each step's effect once, or compensated with each effect undone once.

const (
	crashBatch   = 6  // sagas each child life starts
	crashLives   = 18 // lives that are killed; one more finishes the work
	crashSagas   = crashBatch * crashLives
	envBatch     = "SAGA_CRASH_BATCH" // first saga index of the life's batch
	envChild     = "SAGA_CRASH_CHILD"
	envDriver    = "SAGA_CRASH_DRIVER"
	envDSN       = "SAGA_CRASH_DSN"
	envDialect   = "SAGA_CRASH_DIALECT"
	envKillPoint = "SAGA_CRASH_KILL_POINT" // "<saga>:<step>:<do|undo>:<before|after>"
	envKillWrite = "SAGA_CRASH_KILL_WRITE" // die right after the N-th persisted transition
)

var crashSteps = []string{"reserve", "charge", "ship"}

func createParticipantTables(t testing.TB, db *sql.DB) {
	t.Helper()
	for _, stmt := range []string{
		"CREATE TABLE crash_effects (key TEXT PRIMARY KEY)",
		"CREATE TABLE crash_undos (key TEXT PRIMARY KEY)",
		"CREATE TABLE crash_calls (key TEXT NOT NULL, kind TEXT NOT NULL)",
	} {
		if _, err := db.ExecContext(context.Background(), stmt); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCrashRecovery(t *testing.T) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			d := b.Open(t)
			createParticipantTables(t, d.db)
			seed := uint64(time.Now().UnixNano())
			t.Logf("kill points from seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 1))
			kills := 0
			for life := 0; ; life++ {
				env := []string{envChild + "=1", envDriver + "=" + d.driver, envDSN + "=" + d.dsn,
					envDialect + "=" + d.dialect.String(), envBatch + "=" + strconv.Itoa(life*crashBatch)}
				parentKillAfter := 0
				if life < crashLives {
					first := life * crashBatch
					switch life % 3 {
					case 0: // inside a step or a compensation, before or after its effect
						when := []string{"before", "after"}[rng.IntN(2)]
						if i, step := first+rng.IntN(crashBatch), crashSteps[rng.IntN(3)]; rng.IntN(2) == 0 {
							if i%3 == 0 && step == "ship" {
								step = "charge" // ship fails before any effect in these sagas
							}
							env = append(env, fmt.Sprintf("%s=c%d:%s:do:%s", envKillPoint, i, step, when))
						} else { // sagas whose index is a multiple of 3 fail at ship and compensate
							i := first + 3*rng.IntN(crashBatch/3)
							env = append(env, fmt.Sprintf("%s=c%d:%s:undo:%s", envKillPoint, i, crashSteps[rng.IntN(2)], when))
						}
					case 1: // right after a persisted transition
						env = append(env, fmt.Sprintf("%s=%d", envKillWrite, 1+rng.IntN(4*crashBatch)))
					case 2: // from outside, at whatever the child is doing
						parentKillAfter = 1 + rng.IntN(3*crashBatch)
					}
				}
				done, killed := runCrashChild(t, env, parentKillAfter)
				if killed {
					kills++
				}
				if life >= crashLives {
					if !done {
						t.Fatalf("the last child, which nobody kills, did not finish")
					}
					break
				}
			}
			verifyCrashInvariant(t, d, kills)
		})
	}
}

// startChild starts this test binary again, running only the test named
// test, with env added to this process's environment: the child's stdout
// to scan and its stderr.
func startChild(t *testing.T, test string, env []string) (*exec.Cmd, *bufio.Scanner, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(strings.Builder)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out), stderr
}

// runCrashChild runs one child life; it reports whether the child finished
// every saga and whether it died by SIGKILL.
func runCrashChild(t *testing.T, env []string, killAfter int) (done, killed bool) {
	t.Helper()
	cmd, sc, stderr := startChild(t, "TestCrashChild", env)
	effects := 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "crash-child: done":
			done = true
		case strings.HasPrefix(line, "crash-child: effect"):
			effects++
			if effects == killAfter {
				_ = cmd.Process.Signal(syscall.SIGKILL)
			}
		case strings.HasPrefix(line, "crash-child: error"):
			t.Errorf("child: %s", line)
		}
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return false, true
		}
	}
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, stderr.String())
	}
	return done, false
}

// verifyCrashInvariant checks the participants' tables against the end
// state of every saga.
func verifyCrashInvariant(t *testing.T, d *database, kills int) {
	t.Helper()
	ctx := context.Background()
	keys := func(query string) map[string]int {
		rows, err := d.db.QueryContext(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]int{}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			m[k]++
		}
		return m
	}
	effects, undos := keys("SELECT key FROM crash_effects"), keys("SELECT key FROM crash_undos")
	doCalls, undoCalls := keys("SELECT key FROM crash_calls WHERE kind = 'do'"), keys("SELECT key FROM crash_calls WHERE kind = 'undo'")
	store := d.store(t)
	statuses := map[saga.Status]int{}
	for i := range crashSagas {
		id := fmt.Sprint("c", i)
		rec, err := store.Get(ctx, id)
		if err != nil {
			t.Fatalf("saga %s: %v", id, err)
		}
		statuses[rec.Status]++
		switch rec.Status {
		case saga.StatusCompleted:
			for _, s := range crashSteps {
				if key := id + "/" + s; effects[key] != 1 || undos[key] != 0 {
					t.Errorf("%s completed but %s has %d effects, %d undos", id, key, effects[key], undos[key])
				}
			}
		case saga.StatusCompensated:
			for _, s := range crashSteps {
				key := id + "/" + s
				if effects[key] == 1 && undos[key] != 1 {
					t.Errorf("%s compensated but the effect of %s was not undone", id, key)
				}
			}
			if i%3 == 0 && effects[id+"/ship"] != 0 {
				t.Errorf("%s: the failing step took effect", id)
			}
		default:
			t.Errorf("saga %s ended %s", id, rec.Status)
		}
	}
	repeats := 0
	for k, n := range doCalls {
		repeats += n - effects[k]
	}
	for k, n := range undoCalls {
		repeats += n - undos[k]
	}
	t.Logf("%d kills; sagas %v; %d effects, %d undos, %d repeated calls deduplicated by idempotency key",
		kills, statuses, len(effects), len(undos), repeats)
	if kills < crashLives/2 {
		t.Errorf("only %d of %d lives were killed", kills, crashLives)
	}
}
