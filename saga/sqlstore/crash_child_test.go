package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sqlstore"
	"github.com/go-microkit/microkit/sqldialect"
)

// TestCrashChild is the child process of TestCrashRecovery; run directly,
// without its environment, it has nothing to do and passes.
func TestCrashChild(t *testing.T) {
	if os.Getenv(envChild) == "" {
		return
	}
	fail := func(err error) {
		fmt.Println("crash-child: error", err)
		os.Exit(3)
	}
	db, dialect, inner := openChildStore(fail)
	killWrite, _ := strconv.Atoi(os.Getenv(envKillWrite))
	store := &killingStore{Store: inner, killAt: int64(killWrite)}
	p := &crashParticipant{db: db, dialect: dialect, kill: os.Getenv(envKillPoint)}
	defs := map[bool]*saga.Saga[crashState]{}
	for _, compensateInDoubt := range []bool{false, true} {
		var stages []saga.Stage[crashState]
		for _, name := range crashSteps {
			st := p.step(name)
			if compensateInDoubt && name == "charge" {
				st.OnRecover = saga.RecoverCompensate
			}
			stages = append(stages, st)
		}
		def, err := saga.New(fmt.Sprint("crash-", compensateInDoubt), stages...)
		if err != nil {
			fail(err)
		}
		defs[compensateInDoubt] = def
	}
	o, err := saga.NewOrchestrator(store, saga.WithOwnerID("crash-node"),
		saga.WithCompensationRetry(retry.Policy{MaxAttempts: 21, Backoff: retry.Backoff{Initial: time.Nanosecond, Jitter: retry.NoJitter}}))
	if err != nil {
		fail(err)
	}
	if err := o.Register(defs[false], defs[true]); err != nil {
		fail(err)
	}
	ctx := context.Background()
	if _, err := o.Recover(ctx); err != nil {
		fail(err)
	}
	first, _ := strconv.Atoi(os.Getenv(envBatch))
	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range work {
				_, err := defs[i%2 == 1].Run(ctx, o, crashState{Fail: i%3 == 0}, saga.WithID(fmt.Sprint("c", i)))
				if err != nil && !errors.Is(err, saga.ErrCompensated) && !errors.Is(err, saga.ErrDuplicate) {
					fail(err)
				}
			}
		})
	}
	// The life starts its batch, and starts again the earlier sagas that a
	// kill prevented from being created, as a client retries its request:
	// those already created fail with ErrDuplicate and are left to Recover.
	for i := range min(first+crashBatch, crashSagas) {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := o.Close(ctx); err != nil {
		fail(err)
	}
	fmt.Println("crash-child: done")
}

// openChildStore opens the store of a child process from its
// environment; fail reports an error and exits.
func openChildStore(fail func(error)) (*sql.DB, sqldialect.Dialect, *sqlstore.Store) {
	dialect, err := sqldialect.Parse(os.Getenv(envDialect))
	if err != nil {
		fail(err)
	}
	db, err := sql.Open(os.Getenv(envDriver), os.Getenv(envDSN))
	if err != nil {
		fail(err)
	}
	store, err := sqlstore.New(db, dialect)
	if err != nil {
		fail(err)
	}
	return db, dialect, store
}

type crashState struct {
	Fail bool `json:"fail"`
}

// killingStore kills the process right after the killAt-th persisted
// transition: a crash exactly at a step boundary.
type killingStore struct {
	saga.Store
	mu     sync.Mutex
	writes int64
	killAt int64
}

func (k *killingStore) wrote(err error) error {
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.writes++
	if k.writes == k.killAt {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
	k.mu.Unlock()
	return nil
}

func (k *killingStore) Create(ctx context.Context, r *saga.Record) error {
	return k.wrote(k.Store.Create(ctx, r))
}

func (k *killingStore) Update(ctx context.Context, r *saga.Record) error {
	return k.wrote(k.Store.Update(ctx, r))
}

// crashParticipant applies effects in the participants' tables, deduplicated
// by idempotency key, and logs every call.
type crashParticipant struct {
	db      *sql.DB
	dialect sqldialect.Dialect
	kill    string
}

func (p *crashParticipant) ph(n int) string {
	if p.dialect == sqldialect.Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

func (p *crashParticipant) maybeKill(key, kind, when string) {
	id, step, _ := strings.Cut(key, "/")
	if p.kill == id+":"+step+":"+kind+":"+when {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}

func (p *crashParticipant) apply(ctx context.Context, table, kind string) error {
	key, _ := saga.IdempotencyKeyFromContext(ctx)
	if _, err := p.db.ExecContext(ctx, "INSERT INTO crash_calls (key, kind) VALUES ("+p.ph(1)+", "+p.ph(2)+")", key, kind); err != nil {
		return err
	}
	p.maybeKill(key, kind, "before")
	if _, err := p.db.ExecContext(ctx, "INSERT INTO "+table+" (key) VALUES ("+p.ph(1)+") ON CONFLICT (key) DO NOTHING", key); err != nil {
		return err
	}
	fmt.Println("crash-child: effect", kind, key)
	p.maybeKill(key, kind, "after")
	return nil
}

func (p *crashParticipant) step(name string) saga.Step[crashState] {
	return saga.Step[crashState]{
		Name:  name,
		Retry: retry.Policy{MaxAttempts: 21, Backoff: retry.Backoff{Initial: time.Nanosecond, Jitter: retry.NoJitter}},
		Execute: func(ctx context.Context, s *crashState) error {
			if s.Fail && name == "ship" {
				return retry.Permanent(errors.New("address rejected"))
			}
			return p.apply(ctx, "crash_effects", "do")
		},
		Compensate: func(ctx context.Context, _ *crashState) error {
			return p.apply(ctx, "crash_undos", "undo")
		},
	}
}
