package saga

import (
	"context"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// Step is one action of a saga and the action that undoes it.
//
// Execute and Compensate must be idempotent per [IdempotencyKeyFromContext]: after a
// crash, or when a lease lapses, a step whose completion was not recorded
// runs again with the same key, and a compensation likewise. A participant
// that records the key with its effect (a unique column, a conditional
// insert) makes the repeat harmless.
type Step[S any] struct {
	// Name identifies the step within its saga; it must be unique and not
	// empty. It is part of the idempotency key and of the persisted record,
	// so renaming a step strands instances that are in flight.
	Name string
	// Execute performs the step. It may read and write the state; what it
	// writes is persisted once it returns nil. It must not keep the pointer.
	Execute func(ctx context.Context, state *S) error
	// Compensate undoes Execute. Nil means the step needs no undoing (a
	// read, a notification). It runs for every step that may have taken
	// effect: one that completed, and also one whose Execute failed or
	// timed out (the request may have been applied and its reply lost),
	// unless Execute's error was wrapped by [NotApplied]; and one a crash
	// interrupted (see RecoverCompensate). So it must accept an idempotency
	// key whose Execute never took effect, and succeed doing nothing: a
	// refund of a charge that does not exist is a no-op success, not an
	// error.
	Compensate func(ctx context.Context, state *S) error
	// Timeout bounds each attempt of Execute and of Compensate. Zero means
	// no bound other than the saga's deadline and the caller's context.
	Timeout time.Duration
	// Retry is how often and how long Execute is retried, in process: its
	// attempts and elapsed time count from the first attempt of each
	// execution (Run's, or Recover's when it runs the step again), and
	// every attempt is persisted before it starts (a Local step's are not:
	// each failed attempt rolls back). The zero value means a single
	// attempt. Errors wrapped by retry.Permanent or rejected by
	// Retryable are never retried, and no retry starts past the saga's
	// deadline.
	Retry retry.Policy
	// Retryable classifies Execute's errors: false stops retrying and
	// starts compensation. Nil means every error but a retry.Permanent or
	// [NotApplied] one is retried.
	Retryable func(error) bool
	// CompensateRetry is how often and how long Compensate is retried,
	// counted like Retry. Nil means the orchestrator's (see
	// WithCompensationRetry). When it gives up, the saga ends
	// CompensationFailed.
	CompensateRetry *retry.Policy
	// OnRecover says what Recover does with this step when it finds it
	// started but not recorded done. The zero value, RecoverRetry, runs it
	// again.
	OnRecover RecoverPolicy
	// Local makes the step's writes commit with the saga's record: Execute
	// runs inside the store's transaction ([TxStore.InTx]) together with the
	// record write that marks it done (and, folded into that write, the
	// start of the next step or the saga's completion), and Compensate
	// likewise with the write that marks it compensated. Use it for a step
	// whose effect is a write in the database that holds the saga store
	// (confirm the order, append an outbox event): the step is never in
	// doubt, never runs again once committed, and costs no "running" write
	// before it. Its writes must go through the transaction the store puts
	// in ctx (saga/sqlstore: sqlstore.TxFromContext) and through nothing
	// else: any other connection's write is not part of the commit, and
	// with a pool of one connection any other query deadlocks.
	//
	// An Execute error rolls the transaction back: nothing happened, so the
	// step is retried per Retry and, when that gives up, fails like a
	// [NotApplied] one (it is not compensated; the steps before it are). A
	// failed commit may have committed: the saga stops driving, stays in
	// flight, and Recover reads the truth from the record. A Local step
	// holds its transaction (and the record's row) while it runs, and the
	// lease is not renewed meanwhile: keep it short, well under the lease
	// (WithLease). Should another orchestrator take the saga over
	// meanwhile, the record write fails with ErrConflict and the whole step
	// rolls back. What Execute writes to the state is kept in memory when
	// it fails, as for any step.
	//
	// The orchestrator's store must implement [TxStore] (Register refuses
	// the saga otherwise), and a Local step cannot be in a [Parallel] group
	// (New refuses it): the group's steps run at once, outside any one
	// transaction. OnRecover does not apply: a Local step is never found
	// interrupted.
	Local bool
	// Wait makes the step a waiting step: after Execute (which may then be
	// nil), the saga parks until a signal for the step's correlation key
	// arrives or the wait ends. See [Wait]. Nil: the step ends with its
	// Execute.
	Wait *Wait[S]
}

// RecoverPolicy is what Recover does with a step that was interrupted: its
// execution started but its outcome was not recorded.
type RecoverPolicy int

const (
	// RecoverRetry executes the step again with the same idempotency key.
	RecoverRetry RecoverPolicy = iota
	// RecoverCompensate treats the step as possibly done and compensates it
	// and every completed step before it: for steps that must not run late,
	// such as a payment authorisation that may have expired.
	RecoverCompensate
)

// Stage is one position in a saga: a single [Step], or a group of steps
// that run at once, made with [Parallel].
type Stage[S any] interface {
	stageSteps() []Step[S]
}

func (s Step[S]) stageSteps() []Step[S] { return []Step[S]{s} }

type parallel[S any] []Step[S]

func (p parallel[S]) stageSteps() []Step[S] { return p }

// Parallel returns a stage whose steps run at once. The stage completes
// when all of them have; when one fails, the others are awaited (never
// abandoned), and then every step that completed, in this group or before
// it, is compensated.
//
// The steps share the state: each must write only fields that the others
// neither read nor write. The group's results are persisted together once
// every step has returned, because the state can only be snapshotted when no
// step is writing it; after a crash inside the group, every step of it that
// was not recorded done follows its OnRecover policy.
func Parallel[S any](steps ...Step[S]) Stage[S] { return parallel[S](steps) }

type stepKey struct{}

// stepIdent is what the context carries to a step: the parts of the
// idempotency key, joined only when asked for.
type stepIdent struct {
	sagaID, step string
}

// IdempotencyKeyFromContext returns the key of the step that ctx was given to:
// "<saga id>/<step name>". It is the same on every attempt and after a
// crash, so participants can dedupe on it. ok is false outside a step.
func IdempotencyKeyFromContext(ctx context.Context) (key string, ok bool) {
	id, ok := ctx.Value(stepKey{}).(*stepIdent)
	if !ok {
		return "", false
	}
	return id.sagaID + "/" + id.step, true
}

// IDFromContext returns the ID of the saga instance that ctx was given to
// by a step or compensation. ok is false outside a step.
func IDFromContext(ctx context.Context) (id string, ok bool) {
	s, ok := ctx.Value(stepKey{}).(*stepIdent)
	if !ok {
		return "", false
	}
	return s.sagaID, true
}
