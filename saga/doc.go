// Package saga runs durable orchestrated sagas: a sequence of local steps
// across services, each with a compensation that undoes it, driven by an
// orchestrator that persists every transition so that a crash, a redeploy or
// a lost lease never leaves a saga half-done and forgotten.
//
// A first saga runs its steps in order (create the order, reserve stock,
// charge the card, confirm) and on failure undoes what was done in reverse
// order, in memory: a crash mid-saga forgets it, and a failed compensation
// is a log line. This package persists every transition and adds retries
// with backoff, per-step timeouts, parallel groups, a saga deadline, crash
// recovery, optimistic concurrency between orchestrator instances, and a
// loud, terminal CompensationFailed state instead of the log line.
//
// # Where to start
//
//   - [New] defines a saga over your state type S from [Step] values and
//     [Parallel] groups. A step has Execute, an optional Compensate, a
//     Timeout, a Retry policy (a retry.Policy: how many attempts, how
//     long, what backoff) and an OnRecover policy.
//   - [NewOrchestrator] drives sagas over a [Store]: [MemoryStore] here,
//     saga/sqlstore for PostgreSQL and SQLite.
//   - On start-up, [Orchestrator.Register] your sagas, then call
//     [Orchestrator.Recover] to finish those a crash left in flight.
//     [Saga.Run] starts an instance of a registered saga; it refuses one
//     that is not registered ([ErrUnknownSaga]), which Recover could not
//     continue after a restart.
//   - [IdempotencyKeyFromContext] gives each step "<saga id>/<step>": participants
//     dedupe on it, which is what makes re-execution after a crash safe;
//     [IDFromContext] gives the saga's ID.
//   - [Orchestrator.Failed], [Orchestrator.RetryCompensation] and
//     [Orchestrator.Resolve] are the operator's tools for sagas whose
//     compensation failed; [Listener] (with [EventCompensationFailed]) and
//     saga/sagametrics (Prometheus) make sure someone hears of them.
//   - [Store.List] with a [Filter] lists sagas for an operator, a page at
//     a time after a [Cursor]; a record's [StepRecord]s carry the times of
//     each step's last execution and compensation, its timeline.
//   - A [Step] with a [Wait] parks its saga until an event for its
//     correlation key arrives ([Orchestrator.Signal]; saga/sagabus wires
//     the event bus) or its wait ends; [Sleep] is a durable timer;
//     [Orchestrator.RunTimers] is the loop that wakes them when due.
//
// # Semantics
//
// Every transition (started, step started, step done with the new state,
// step failed, compensating, step compensated, finished) reaches the store
// before the action that follows it; transitions with no action between
// them share one write, so a 3-step saga costs 4 writes (fewer with Local
// steps). A step error is
// retried per the step's Retry policy unless it is wrapped by
// retry.Permanent (package retry, the toolkit's one "do not retry") or
// [NotApplied] or rejected by the step's Retryable; then every step that
// may have taken effect is compensated in reverse order of completion, each
// retried with backoff. The failed step itself counts as one, first: a
// timeout, a transport error or a 5xx does not prove that nothing happened
// (the reply may have been lost), so its compensation runs too unless its
// error was wrapped by [NotApplied]. When a compensation's retries run out
// the saga ends [StatusCompensationFailed] (by default at once; after
// compensating the earlier steps with [WithContinueOnCompensationFailure]):
// Run returns a [*CompensationFailedError], the orchestrator logs at Error,
// emits [EventCompensationFailed] and counts
// microkit_saga_compensation_failed_total, and the saga stays listed by
// [Orchestrator.Failed] until retried or resolved.
//
// # Local steps
//
// A step whose effect is a write in the database that holds the saga
// store (confirm the order and append its outbox event, insert the order
// row) can be [Step.Local]: its Execute runs inside the store's
// transaction ([TxStore.InTx]; saga/sqlstore gives the step its *sql.Tx
// through sqlstore.TxFromContext) together with the record write that
// marks it done, so the step and its recorded completion commit at once:
// never in doubt, never run again once committed, and no "running" write
// before it. That write also records the previous step's completion and
// the next step's start, or the saga's completion; when the first step is
// Local, the record is created in the same transaction, so starting a
// saga and its first write are atomic (and when that step fails for good,
// nothing is written: the saga never started, Run returns a
// *CompensatedError, and the ID may be run again). A saga of Local, remote, remote,
// Local steps costs 3 writes instead of 5. An Execute error rolls it all
// back: the step is retried per its policy and, when that gives up, fails
// like a [NotApplied] one; a commit that fails may have committed, so the
// saga stays in flight and Recover reads the record. Compensate of a Local
// step likewise commits with the write that marks it compensated.
//
// The hazards: the step holds a transaction and the record's row while it
// runs, and its lease is not renewed meanwhile, so keep it short (another
// orchestrator taking over makes the commit fail with ErrConflict and the
// step roll back, which is safe); write only through the transaction in
// ctx, since any other connection's write is not part of the commit, and
// with a pool of one connection any other query from the step deadlocks.
// The orchestrator's store must implement [TxStore] (Register refuses a
// saga with a Local step otherwise), and a Local step cannot be in a
// [Parallel] group.
//
// # Waiting steps and timers
//
// A waiting step ([Step.Wait]) parks the saga after its Execute: the
// record, in [StatusWaiting], holds the correlation key it waits on and
// when its wait ends, and nothing else holds it (no goroutine, no lease),
// so a process has thousands parked at no cost and a restart loses none.
// [Orchestrator.Signal] stores an event for the key and, if the saga
// waits, takes it back with a compare-and-swap and drives it on; an event
// that comes before the saga parks waits for it, a second one for the
// key is a duplicate, and one for a wait that is over gets
// [ErrSagaFinished]. [Orchestrator.RunTimers] wakes the sagas whose time
// has come: a timer ([Sleep], [SleepUntil]) completes, a wait for a
// signal fails ([ErrWaitTimeout], or [ErrDeadlineExceeded] past the
// saga's deadline) and compensates, its own step first. Recover fires
// what fell due while no orchestrator ran. The store must be a
// [WaitStore] (MemoryStore and saga/sqlstore are).
//
// Leases, deadlines and record times are read from the time package, so a
// test of code that drives sagas runs in a testing/synctest bubble to move
// through them without sleeping.
//
// Given a [Tracer] ([WithTracer]; package saga/sagatrace is the
// OpenTelemetry one), each saga run gets a span, with a child span per step
// attempt and per compensation attempt. Without one, tracing costs nothing
// and this package compiles no tracing library.
package saga
