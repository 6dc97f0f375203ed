package saga

import (
	"context"
	"errors"
	"time"
)

// Status is where a saga instance stands. Running and Compensating are in
// flight: Recover continues them. Waiting is parked: a signal
// ([Orchestrator.Signal]) or its wake-up time ([Orchestrator.RunTimers])
// continues it. The others are terminal.
type Status string

// The statuses a saga instance goes through.
const (
	StatusRunning            Status = "running"
	StatusWaiting            Status = "waiting"
	StatusCompensating       Status = "compensating"
	StatusCompleted          Status = "completed"
	StatusCompensated        Status = "compensated"
	StatusCompensationFailed Status = "compensation_failed"
	StatusResolved           Status = "resolved"
)

// InFlight reports whether a saga with this status still has work to do:
// it is not terminal.
func (s Status) InFlight() bool {
	return s == StatusRunning || s == StatusCompensating || s == StatusWaiting
}

// StepStatus is where one step of a saga instance stands.
type StepStatus string

// The statuses a step goes through. A step that is Running or Compensating
// in a stored record was interrupted (by a crash or a lost lease) and is in
// doubt: its effect may or may not have happened. A waiting step ([Wait])
// is Waiting from the end of its Execute until its signal or its wake-up
// time is taken; then it is done or failed.
const (
	StepPending            StepStatus = "pending"
	StepRunning            StepStatus = "running"
	StepWaiting            StepStatus = "waiting"
	StepDone               StepStatus = "done"
	StepFailed             StepStatus = "failed"
	StepCompensating       StepStatus = "compensating"
	StepCompensated        StepStatus = "compensated"
	StepCompensationFailed StepStatus = "compensation_failed"
)

// StepRecord is the persisted progress of one step.
type StepRecord struct {
	// Name is the step's name, unique within its saga.
	Name string `json:"n"`
	// Status is where the step stands.
	Status StepStatus `json:"s"`
	// Attempts counts the executions started, across crashes.
	Attempts int `json:"a,omitempty"`
	// CompensateAttempts counts the compensations started, across crashes.
	CompensateAttempts int `json:"c,omitempty"`
	// Seq is the order in which the step completed (1 first); 0 while it has
	// not. A step that failed in doubt (its effect may have happened) gets
	// one when it fails. Compensation runs in decreasing Seq.
	Seq int `json:"q,omitempty"`
	// Failed is set on a step whose execution failed for good, which made
	// the saga compensate. Status then tells the rest: StepFailed with Seq 0
	// when its error was NotApplied (nothing to undo), else the step is
	// compensated like a completed one, before the steps that completed
	// earlier.
	Failed bool `json:"f,omitempty"`
	// Error is the last error of the step or of its compensation.
	Error string `json:"e,omitempty"`
	// StartedAt is when the step's last execution began, by the
	// orchestrator's clock: its first attempt in Run, or in the Recover that
	// ran it again (the retries of one execution keep it). It is recorded
	// by the write that marks the step running. Zero if it never ran.
	StartedAt time.Time `json:"xs,omitzero"`
	// EndedAt is when that execution ended, successful or failed for good;
	// zero while it runs, and when a crash or a lost lease interrupted it.
	EndedAt time.Time `json:"xe,omitzero"`
	// CompensateStartedAt is when the step's last compensation began (its
	// first attempt; RetryCompensation begins a new one), by the
	// orchestrator's clock. Zero if the step was never compensated, or has
	// no Compensate.
	CompensateStartedAt time.Time `json:"cs,omitzero"`
	// CompensateEndedAt is when that compensation ended, successful or
	// failed for good; zero while it runs or when it was interrupted.
	CompensateEndedAt time.Time `json:"ce,omitzero"`
	// WaitKey is the correlation key of a waiting step that waits for a
	// signal, set when it parks: the key its signal was taken under.
	WaitKey string `json:"k,omitempty"`
	// WakeAt is when a waiting step's wait ends (its timer fires, or its
	// wait for a signal times out), set when it parks; zero for a wait
	// with no end but the saga's deadline.
	WakeAt time.Time `json:"w,omitzero"`
}

// Record is the persisted form of one saga instance: what a [Store] keeps.
type Record struct {
	// ID identifies the instance; it prefixes every idempotency key.
	ID string
	// Name is the saga definition's name, which Recover looks up.
	Name string
	// Status is where the instance stands.
	Status Status
	// State is the user state S encoded as JSON.
	State []byte
	// Steps holds one entry per step, in definition order.
	Steps []StepRecord
	// Version is the optimistic-concurrency token: Create sets it to 1 and
	// each successful Update increments it.
	Version int64
	// Owner is the ID of the orchestrator that drives the instance.
	Owner string
	// LeaseUntil is when Owner's claim lapses if it is not renewed; after it,
	// another orchestrator's Recover may take the instance over.
	LeaseUntil time.Time
	// Deadline is when the saga stops going forward and compensates; zero
	// means none.
	Deadline time.Time
	// Error is why the saga compensated or why its compensation failed.
	Error string
	// Note is the operator's note given to Resolve.
	Note string
	// WaitKey is, while the saga is Waiting, the correlation key its step
	// waits on ([Orchestrator.Signal] finds it by this key); empty when it
	// waits for a timer only, and when it is not Waiting.
	WaitKey string
	// WakeAt is, while the saga is Waiting, when its wait ends (the step's
	// timer or timeout, or the saga's deadline if sooner): the timer loop
	// wakes it then. Zero when it is not Waiting or waits without end.
	WakeAt time.Time
	// CreatedAt and UpdatedAt are set by the orchestrator's clock.
	CreatedAt, UpdatedAt time.Time
}

// Filter selects records for [Store.List] and orders them. Its zero value
// selects every record, oldest first. The conditions combine: a record is
// listed when it meets all of them.
//
// A listing is ordered by CreatedAt, then by ID (byte by byte) among
// records created at the same instant: a total order, which is what makes
// paging with After stable. To page, list with a Limit, then list again
// with After set to the [Record.Cursor] of the last record returned: no
// record is skipped or repeated, however many share a CreatedAt, and a
// record created while paging is listed on a later page when its place in
// the order lies ahead (oldest first, new records come last).
type Filter struct {
	// Statuses keeps records with one of these statuses; empty keeps all.
	Statuses []Status
	// Name keeps the records of the saga definition of this name; empty
	// keeps all.
	Name string
	// IDPrefix keeps records whose ID starts with it, byte for byte (no
	// wildcards, case matters); empty keeps all. It must be valid UTF-8
	// without NUL.
	IDPrefix string
	// UpdatedBefore keeps records last updated before it (not updated
	// since): with the in-flight statuses, the sagas that look stuck. The
	// zero value keeps all.
	UpdatedBefore time.Time
	// After keeps the records that come after this cursor in the listing's
	// order (before it in time when Newest is set): the next page. nil
	// starts at the first record.
	After *Cursor
	// WaitKey keeps the records whose WaitKey is this (the sagas waiting
	// on it); empty keeps all.
	WaitKey string
	// DueBy keeps the records whose WakeAt is set and not after it: the
	// waiting sagas due to wake. The zero value keeps all.
	DueBy time.Time
	// Signalled keeps the records that have a WaitKey with a pending
	// signal (stored, taken by no saga): the waiting sagas whose signal
	// came while no orchestrator could deliver it. Only a [WaitStore]
	// lists them; false keeps all.
	Signalled bool
	// Newest lists newest first: by descending CreatedAt, then descending
	// ID. False lists oldest first.
	Newest bool
	// Limit caps the number of records; zero means no cap.
	Limit int
}

// Store persists saga records. Implementations must be safe for concurrent
// use and must not retain r.State or r.Steps after a call returns (the
// orchestrator reuses their memory). [MemoryStore] is the in-memory one,
// saga/sqlstore the SQL one, and saga/sagatest the conformance suite every
// implementation must pass.
type Store interface {
	// Create stores a new record and sets r.Version to 1. It returns an
	// error wrapping ErrDuplicate if r.ID exists.
	Create(ctx context.Context, r *Record) error
	// Update replaces the stored record if its version equals r.Version,
	// then increments r.Version (compare-and-swap). It returns an error
	// wrapping ErrConflict if the versions differ and ErrNotFound if there is
	// no such record.
	Update(ctx context.Context, r *Record) error
	// Get returns the record with this ID, or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (*Record, error)
	// List returns the records that match f, in f's order (see [Filter]),
	// or an error wrapping ErrInvalidFilter if [Filter.Validate] refuses f.
	List(ctx context.Context, f Filter) ([]*Record, error)
}

// TxStore is a [Store] that can run a local step's writes and the record's
// write in one transaction: what [Step.Local] needs. [MemoryStore] and
// saga/sqlstore implement it; saga/sagatest checks it.
type TxStore interface {
	Store
	// InTx runs fn in a transaction: the Create and Update calls made with
	// the ctx fn receives join it; all of it commits when fn returns nil and
	// nothing does when fn returns an error or the commit fails. A nested
	// InTx with such a ctx joins the outer transaction. The store puts its
	// transaction in ctx so that the step's own writes can join it (for
	// saga/sqlstore, sqlstore.TxFromContext). An error from the commit is
	// returned as is or wrapped: the caller cannot tell whether it
	// committed.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Errors a Store returns, wrapped.
var (
	// ErrNotFound means no record has that ID.
	ErrNotFound = errors.New("saga: not found")
	// ErrDuplicate means a record with that ID exists already.
	ErrDuplicate = errors.New("saga: duplicate saga id")
	// ErrConflict means the stored record changed since it was read: another
	// orchestrator owns or moved it.
	ErrConflict = errors.New("saga: version conflict")
	// ErrInvalidFilter means a Filter that no store runs (see
	// [Filter.Validate]) or text that is no [Cursor]: input to correct,
	// not to retry.
	ErrInvalidFilter = errors.New("saga: invalid filter")
)

// Clone returns a deep copy of r.
func (r *Record) Clone() *Record {
	c := *r
	c.State = append([]byte(nil), r.State...)
	c.Steps = append([]StepRecord(nil), r.Steps...)
	return &c
}
