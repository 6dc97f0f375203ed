package saga

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// Wait makes a [Step] a waiting step: after its Execute (which may be nil:
// nothing to do before waiting) the saga parks until its signal arrives
// or its wait ends. A parked saga holds no goroutine and no lease: it is a
// record in StatusWaiting with its correlation key and its wake-up time,
// and [Orchestrator.Signal] or the timer loop ([Orchestrator.RunTimers],
// and [Orchestrator.Recover] for what fell due while no orchestrator ran)
// continues it, in whichever process.
//
// A wait for a signal (Signal true) ends with the first signal for its
// key, which OnSignal applies to the state (an error fails the step: a
// negative event such as a declined payment), or without one when For or
// Until passes (the step fails with [ErrWaitTimeout]) or the saga's
// deadline does ([ErrDeadlineExceeded]). A timer (Signal false) completes
// when For or Until passes. A step whose wait fails is compensated like
// any failed step, its own Compensate included: its Execute ran.
//
// The saga's store must implement [WaitStore] (Register refuses the saga
// otherwise), and a waiting step can be neither Local nor in a [Parallel]
// group.
type Wait[S any] struct {
	// Signal makes the step wait for a signal ([Orchestrator.Signal]) for
	// its key; false makes it a timer, which For or Until must bound.
	Signal bool
	// Key returns the correlation key the step waits on, from the state
	// Execute left (the payment provider's payment ID, say): the key the
	// event that ends the wait carries. Nil, or an empty key, means the
	// step's idempotency key, "<saga id>/<step name>". A key belongs to
	// one wait: the first signal for it is the one taken, and later ones
	// are duplicates. Only with Signal.
	Key func(state *S) string
	// OnSignal applies the signal's payload to the state, once the signal
	// is taken. An error, or a panic, fails the step: it is not retried
	// (the signal is what it is) and the saga compensates. Nil accepts
	// every signal and changes nothing. Only with Signal.
	OnSignal func(ctx context.Context, state *S, sig Signal) error
	// For is how long the wait lasts from the end of Execute. Zero, with a
	// nil Until, means no end but the saga's deadline (a wait for a signal
	// only).
	For time.Duration
	// Until, if set, returns when the wait ends, from the state; it
	// overrides For. A time already past ends a timer at once.
	Until func(state *S) time.Time
}

// Sleep returns a step named name that waits d, durably: the saga parks
// for d and any orchestrator over the store continues it then, even after
// a restart.
func Sleep[S any](name string, d time.Duration) Step[S] {
	return Step[S]{Name: name, Wait: &Wait[S]{For: d}}
}

// SleepUntil returns a step named name that waits until the time until
// returns from the state, durably (see [Sleep]).
func SleepUntil[S any](name string, until func(state *S) time.Time) Step[S] {
	return Step[S]{Name: name, Wait: &Wait[S]{Until: until}}
}

// Signal is an event delivered to a waiting saga by its correlation key,
// as a [WaitStore] keeps it: from its arrival, which may precede the
// saga's park (a fast webhook), until the saga takes it, and after that
// as the record that the key's wait is over.
type Signal struct {
	// Key is the correlation key.
	Key string
	// Type is the event's type ("payment.confirmed"), as given to
	// [Orchestrator.Signal]; it may be empty.
	Type string
	// Payload is the event's payload, often JSON, for OnSignal to decode.
	Payload []byte
	// SagaID is the ID of the saga that took the signal; empty while
	// it is pending.
	SagaID string
	// TimedOut marks no event but the end of a wait that took no signal:
	// stored, taken, to close the key, so that a late event is told that
	// the saga is done with it.
	TimedOut bool
	// CreatedAt is when the signal was stored.
	CreatedAt time.Time
}

// WaitStore is a [Store] that can park sagas: what a [Wait] step needs.
// Its List honours [Filter].WaitKey and [Filter].DueBy (with indexes: the
// orchestrator looks up a key on every signal, and due sagas on every
// tick of the timer loop), and it keeps the signals of correlation keys.
// [MemoryStore] and saga/sqlstore implement it; saga/sagatest checks it.
type WaitStore interface {
	Store
	// PutSignal stores sig unless a signal for its key is stored already.
	// It returns the signal stored for the key (a copy) and whether it is
	// sig, just stored.
	PutSignal(ctx context.Context, sig *Signal) (stored *Signal, created bool, err error)
	// GetSignal returns the signal stored for key, or an error wrapping
	// ErrNotFound.
	GetSignal(ctx context.Context, key string) (*Signal, error)
	// TakeSignal records that the saga sagaID took the signal of key, if
	// no saga did (taking it again for the same saga does nothing), and
	// returns it. It returns an error wrapping ErrConflict if another saga
	// took it, and ErrNotFound if there is no signal for key.
	TakeSignal(ctx context.Context, key, sagaID string) (*Signal, error)
	// NextWake returns the earliest WakeAt of the records that have one,
	// or the zero time if none has.
	NextWake(ctx context.Context) (time.Time, error)
	// PruneSignals deletes the signals stored before before, taken or
	// not, and returns how many it deleted.
	PruneSignals(ctx context.Context, before time.Time) (int, error)
}

// ParkStore is a [WaitStore] in which a saga's park and a signal for its
// key meet: the write that parks the saga also records it as the key's
// waiter, and storing a signal returns that waiter. Neither side then
// needs a read of its own to find the other: over a WaitStore without
// it, the orchestrator looks for an early signal after each park, and
// for the waiting saga after each signal.
//
// For one key, the store orders a Park and a Deliver (as a unique index
// does: the second to write the key's row waits for the first to commit),
// so that whichever comes second sees the first: Park returns the signal
// that came before it, or Deliver returns the saga that parked before it.
// saga/sqlstore implements it; saga/sagatest checks it. [MemoryStore]
// does not: its reads cost no round trip.
type ParkStore interface {
	WaitStore
	// Park writes r, in which the saga parks waiting on r.WaitKey (not
	// empty): as Create does if r.Version is 0, as Update does (a
	// compare-and-swap on the version) otherwise, with their errors. In
	// the same transaction it records the saga as the key's waiter. It
	// returns the signal stored for the key before it, pending, taken or
	// timed out, or nil if there is none.
	Park(ctx context.Context, r *Record) (*Signal, error)
	// Deliver stores sig as PutSignal does and, if the key's signal is
	// pending (sig, just stored, or one stored before and not taken),
	// also returns the record of the saga that Park recorded as the key's
	// waiter, or nil if none did. The record may have been read before
	// the park's commit, and so not show the saga waiting: the caller
	// reads it again then.
	Deliver(ctx context.Context, sig *Signal) (stored *Signal, created bool, waiter *Record, err error)
}

// Errors of waiting steps and signals.
var (
	// ErrWaiting is wrapped by the error of a Run (or of a drive by
	// Signal, Recover or the timer loop) that stopped because the saga
	// parked in a waiting step: it is not a failure, the saga is in
	// StatusWaiting and continues when its signal arrives or its wait
	// ends, in whichever orchestrator.
	ErrWaiting = errors.New("saga: waiting")
	// ErrWaitTimeout is the cause of the compensation of a saga whose
	// waiting step's wait ended without its signal.
	ErrWaitTimeout = errors.New("saga: wait timed out")
	// ErrSagaFinished is wrapped by the error of a Signal that nothing
	// will take: its key's wait is over, ended by an earlier signal in a
	// saga that has finished, or ended without a signal (a timeout, or
	// the saga's deadline). The signal was delivered to the right place
	// and is of no use: acknowledge it and log it, do not retry it.
	ErrSagaFinished = errors.New("saga: signal for a wait that is over")
)

// waitingError is what forward returns when the saga parked.
type waitingError struct{ err error }

func (e *waitingError) Error() string { return e.err.Error() }

// defaultKey is the correlation key of a wait that sets none: the step's
// idempotency key.
func defaultKey(sagaID, step string) string { return sagaID + "/" + step }

// park ends the Execute of the waiting step i (which ran, or had none):
// the step and the saga become Waiting with the step's key and wake-up
// time, written in one write. A timer already due does not park. A signal
// that arrived before the park is looked for after the write (a
// ParkStore's Park returns it): if one is pending, the run takes the saga
// back (woken reports it) and goes on. Otherwise park returns a
// *waitingError.
func (r *run[S]) park(ctx context.Context, i int) (woken bool, err error) {
	if !r.prepPark(i, time.Now()) {
		return true, nil // a timer already due: awaken completes it
	}
	if err := r.persist(ctx); err != nil {
		return false, err
	}
	return r.parked(ctx, i)
}

// prepPark records in memory the park of the saga in the waiting step i,
// at now, for the next write: the step and the saga Waiting with the
// step's key and wake-up time. It returns false, and leaves the saga
// running, for a timer already due.
func (r *run[S]) prepPark(i int, now time.Time) bool {
	st, sr := &r.def.steps[i], &r.rec.Steps[i]
	w := st.Wait
	if sr.Seq == 0 { // the Execute that ran may have taken effect
		r.seq++
		sr.Seq = r.seq
	}
	if sr.StartedAt.IsZero() || st.Execute == nil {
		sr.StartedAt = now
	}
	sr.Status, sr.Error, sr.EndedAt = StepWaiting, "", time.Time{}
	var end time.Time
	switch {
	case w.Until != nil:
		end = w.Until(&r.state)
	case w.For > 0:
		end = now.Add(w.For)
	}
	if !w.Signal && !now.Before(end) {
		return false
	}
	key := ""
	if w.Signal {
		if w.Key != nil {
			key = w.Key(&r.state)
		}
		if key == "" {
			key = defaultKey(r.rec.ID, st.Name)
		}
	}
	wake := end
	if d := r.rec.Deadline; !d.IsZero() && (wake.IsZero() || d.Before(wake)) {
		wake = d
	}
	sr.WaitKey, sr.WakeAt = key, end
	r.rec.Status, r.rec.WaitKey, r.rec.WakeAt = StatusWaiting, key, wake
	r.dirty = true
	return true
}

// parked follows the write that parked the saga in the waiting step i: it
// tells the listeners and the timer loop, then looks for a signal that came
// before the write, as park says.
func (r *run[S]) parked(ctx context.Context, i int) (woken bool, err error) {
	st, key, wake := &r.def.steps[i], r.rec.WaitKey, r.rec.WakeAt
	r.emit(ctx, Event{Kind: EventWaiting, Step: st.Name})
	if !wake.IsZero() {
		r.o.nudgeTimers(wake)
	}
	if key != "" {
		// A signal stored before the write above is seen here; one stored
		// after it finds the saga waiting. Both may happen: the claim
		// below is a compare-and-swap, so one of them drives the saga. A
		// ParkStore's Park returned it already.
		sig, err := r.early, error(nil)
		if !r.looked {
			sig, err = r.o.waitStore.GetSignal(ctx, key)
		} else if sig == nil {
			err = ErrNotFound
		}
		r.looked, r.early = false, nil
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return false, &abortError{err: fmt.Errorf("saga: %s %s: look up signal %q: %w", r.def.name, r.rec.ID, key, err)}
		case sig.SagaID == "" && !sig.TimedOut:
			// Taken back as a wake-up is (see Orchestrator.wake): no
			// write of its own, the drive's next one claims the saga
			// from the park's version and takes the signal, and the
			// events until then are held. If that write loses the saga
			// to another drive (the timer loop's look for pending
			// signals), the saga goes on there: drive reports it waiting.
			r.rec.Status, r.rec.WaitKey, r.rec.WakeAt = StatusRunning, "", time.Time{}
			r.rec.Owner, r.rec.LeaseUntil = r.o.id, time.Now().Add(r.o.lease)
			r.delivered, r.unclaimed, r.selfWoken = sig, true, true
			return true, nil
		}
	}
	return false, &waitingError{err: fmt.Errorf("saga: %s %s: step %s: %w", r.def.name, r.rec.ID, st.Name, ErrWaiting)}
}

// awaken ends the wait of step i, whose saga was taken back from
// StatusWaiting (by a signal, the timer loop, or its own park): a timer
// completes; a wait for a signal takes its key's signal, or closes the
// key when none came, and completes when OnSignal accepts the signal.
// What it writes reaches the store with the next transition.
func (r *run[S]) awaken(ctx context.Context, i int) error {
	st, sr := &r.def.steps[i], &r.rec.Steps[i]
	if !st.Wait.Signal {
		if r.pastDeadline() && (sr.WakeAt.IsZero() || r.rec.Deadline.Before(sr.WakeAt)) {
			return r.failWait(sr, ErrDeadlineExceeded)
		}
		r.woke(ctx, sr, nil)
		return nil
	}
	sig, err := r.signalFor(ctx, sr.WaitKey)
	if f, ok := err.(*stepFailure); ok {
		return r.failWait(sr, f.err)
	}
	if err != nil {
		return err
	}
	if sig.TimedOut {
		cause := ErrWaitTimeout
		if r.pastDeadline() {
			cause = ErrDeadlineExceeded
		}
		return r.failWait(sr, fmt.Errorf("%w: step %s: no signal for %q", cause, st.Name, sr.WaitKey))
	}
	if st.Wait.OnSignal != nil {
		if err := onSignal(ctx, st.Wait.OnSignal, &r.state, *sig); err != nil {
			r.dirty = true // what OnSignal wrote is kept, as for a failed Execute
			return r.failWait(sr, err)
		}
		r.dirty = true
	}
	r.woke(ctx, sr, sig)
	return nil
}

// woke records the end of step i's wait, successful.
func (r *run[S]) woke(ctx context.Context, sr *StepRecord, sig *Signal) {
	sr.Status, sr.Error, sr.EndedAt = StepDone, "", time.Now()
	e := Event{Kind: EventWoken, Step: sr.Name}
	if sig != nil {
		e.Signal = sig.Type
	}
	r.emit(ctx, e)
}

// failWait fails the waiting step of sr for good: its Execute ran, so it
// is compensated first (its Seq is set).
func (r *run[S]) failWait(sr *StepRecord, err error) error {
	sr.Status, sr.Failed, sr.Error, sr.EndedAt = StepFailed, true, err.Error(), time.Now()
	return &stepFailure{err: err}
}

// signalFor returns the signal of key for this run's saga: the one Signal
// delivered with the wake-up, or the one stored. A pending signal is not
// taken here: its take rides in the saga's next write (see updateAndTake),
// the one that claims the woken saga, so that a drive that stops before
// that write leaves the saga waiting with its signal pending, which the
// timer loop's look for pending signals delivers again (taken before the
// write, it would leave a waiting saga whose signal nothing delivers). A
// signal this saga took already is returned as is; one another saga took
// fails the wait. If none came, takeSignal closes the key.
func (r *run[S]) signalFor(ctx context.Context, key string) (*Signal, error) {
	sig := r.delivered
	r.delivered = nil
	if sig == nil || sig.Key != key {
		var err error
		sig, err = r.o.waitStore.GetSignal(ctx, key)
		switch {
		case errors.Is(err, ErrNotFound):
			return r.takeSignal(ctx, key)
		case err != nil:
			return nil, &abortError{err: fmt.Errorf("saga: %s %s: look up signal %q: %w", r.def.name, r.rec.ID, key, err)}
		}
	}
	switch {
	case sig.SagaID == "":
		r.pendingTake = key
	case sig.SagaID != r.rec.ID:
		return nil, &stepFailure{err: fmt.Errorf("saga: %s %s: signal %q taken by %s: %w: a key must belong to one wait", r.def.name, r.rec.ID, key, sig.SagaID, ErrConflict)}
	}
	return sig, nil
}

// updateAndTake writes the record and takes for the saga the signal of key
// (pending since signalFor read it): in one transaction when the store is
// a TxStore (a Local step's, which the write joins, or one of its own);
// otherwise the record first, so that a crash between the two leaves the
// signal pending for a saga that no longer waits on it, which is harmless.
// A signal another saga took meanwhile fails the write in a transaction.
func (r *run[S]) updateAndTake(ctx context.Context, key string) error {
	take := func(ctx context.Context) error {
		if _, err := r.o.waitStore.TakeSignal(ctx, key, r.rec.ID); err != nil && !errors.Is(err, ErrNotFound) { // pruned: nothing to take
			return fmt.Errorf("take signal %q: %w", key, err)
		}
		return nil
	}
	if r.o.txStore != nil {
		return r.o.txStore.InTx(ctx, func(ctx context.Context) error {
			if err := take(ctx); err != nil {
				return err
			}
			return r.update(ctx)
		})
	}
	if err := r.update(ctx); err != nil {
		return err
	}
	if err := take(ctx); err != nil {
		r.o.log.Warn("saga: signal not marked taken", "saga", r.def.name, "id", r.rec.ID, "err", err)
	}
	return nil
}

// takeSignal takes for this saga the signal of key or, if none came,
// stores a TimedOut one, taken: from then on the key's wait is over, and
// a late event is told so (ErrSagaFinished). A signal and the timeout
// that race for the key are ordered by the store: whichever is stored
// first is taken.
func (r *run[S]) takeSignal(ctx context.Context, key string) (*Signal, error) {
	ws := r.o.waitStore
	sig, err := ws.TakeSignal(ctx, key, r.rec.ID)
	if errors.Is(err, ErrNotFound) {
		var created bool
		sig, created, err = ws.PutSignal(ctx, &Signal{Key: key, SagaID: r.rec.ID, TimedOut: true, CreatedAt: time.Now()})
		if err == nil && !created { // a signal came in between
			sig, err = ws.TakeSignal(ctx, key, r.rec.ID)
		}
	}
	switch {
	case errors.Is(err, ErrConflict):
		// Another saga waited on the same key and took its signal: a key
		// belongs to one wait.
		return nil, &stepFailure{err: fmt.Errorf("saga: %s %s: %w: a key must belong to one wait", r.def.name, r.rec.ID, err)}
	case err != nil:
		return nil, &abortError{err: fmt.Errorf("saga: %s %s: take signal %q: %w", r.def.name, r.rec.ID, key, err)}
	}
	return sig, nil
}

// onSignal runs fn and turns a panic into an error.
func onSignal[S any](ctx context.Context, fn func(context.Context, *S, Signal) error, state *S, sig Signal) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = retry.Permanent(fmt.Errorf("saga: OnSignal panicked: %v", p))
		}
	}()
	return fn(ctx, state, sig)
}

// Signal delivers an event to the saga waiting on key (see [Wait]): it
// stores the signal, then, if a saga waits on the key, takes the saga
// back with a compare-and-swap and drives it, in the caller's goroutine,
// to its end or its next wait. It returns nil when the signal is stored:
// delivered, or pending for a saga that has not parked yet (a fast
// webhook), which takes it when it parks. A second signal for a key is a
// duplicate and does nothing, the first one stays the one taken.
//
// It returns an error wrapping [ErrSagaFinished] when the key's wait is
// over and its saga finished (or it ended without a signal): acknowledge
// such an event, do not retry it. Any other error (the store's, the
// context's, or the drive's, when it stopped midway and left the saga to
// Recover) may be retried: a retry of a stored signal delivers it again
// if it is still pending, and is a duplicate otherwise. The saga's own
// outcome (completed, compensated) is not an error of Signal's.
//
// Two orchestrators signalling at once, or a signal and the timer loop
// or the saga's own park, never drive the saga twice: the one whose
// compare-and-swap wins drives it.
func (o *Orchestrator) Signal(ctx context.Context, key, eventType string, payload []byte) error {
	if o.waitStore == nil {
		return fmt.Errorf("saga: signal %q: %w: the store (%T) does not implement WaitStore", key, ErrInvalidOption, o.store)
	}
	if key == "" {
		return fmt.Errorf("saga: signal: %w: empty key", ErrInvalidOption)
	}
	if err := o.enter(); err != nil {
		return err
	}
	defer o.runs.Done()
	sig := &Signal{Key: key, Type: eventType, Payload: payload, CreatedAt: time.Now()}
	var (
		stored  *Signal
		waiting *Record
		created bool
		err     error
	)
	if o.parkStore != nil {
		stored, created, waiting, err = o.parkStore.Deliver(ctx, sig)
	} else {
		stored, created, err = o.waitStore.PutSignal(ctx, sig)
	}
	if err != nil {
		return fmt.Errorf("saga: signal %q: %w", key, err)
	}
	if !created {
		switch {
		case stored.TimedOut:
			return fmt.Errorf("saga: signal %q: %w: saga %s's wait ended without a signal", key, ErrSagaFinished, stored.SagaID)
		case stored.SagaID != "":
			rec, err := o.store.Get(ctx, stored.SagaID)
			switch {
			case errors.Is(err, ErrNotFound): // a MemoryStore with DropFinished
				return fmt.Errorf("saga: signal %q: %w: saga %s", key, ErrSagaFinished, stored.SagaID)
			case err != nil:
				return fmt.Errorf("saga: signal %q: %w", key, err)
			case !rec.Status.InFlight():
				return fmt.Errorf("saga: signal %q: %w: saga %s is %s", key, ErrSagaFinished, rec.ID, rec.Status)
			}
			return nil // a duplicate of the signal its saga took
		}
		// Pending: the first delivery may have stopped before it drove the
		// saga; deliver it again.
	}
	recs, err := o.waiting(ctx, key, waiting)
	if err != nil {
		return fmt.Errorf("saga: signal %q: %w", key, err)
	}
	var errs []error
	for _, rec := range recs {
		def, err := o.definition(rec.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("saga: signal %q: saga %s: %w", key, rec.ID, err))
			continue
		}
		if _, err := o.wake(ctx, def, rec, stored); err != nil {
			errs = append(errs, fmt.Errorf("saga: signal %q: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// waiting returns the sagas waiting on key for Signal: listed by their
// key, or, over a ParkStore, the one Deliver returned as the key's waiter
// (read again if Deliver read it before its park committed). None waits
// when Deliver returned no waiter: the park that comes later finds the
// signal.
func (o *Orchestrator) waiting(ctx context.Context, key string, waiter *Record) ([]*Record, error) {
	if o.parkStore == nil {
		return o.store.List(ctx, Filter{Statuses: []Status{StatusWaiting}, WaitKey: key})
	}
	if waiter == nil {
		return nil, nil
	}
	if waiter.Status != StatusWaiting || waiter.WaitKey != key {
		fresh, err := o.store.Get(ctx, waiter.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil, nil
		case err != nil:
			return nil, err
		}
		if fresh.Status != StatusWaiting || fresh.WaitKey != key {
			return nil, nil // woken already, or parked on another key since
		}
		waiter = fresh
	}
	return []*Record{waiter}, nil
}

// wake takes the waiting saga rec back and drives it; outcomeSkipped when
// another orchestrator took it first.
//
// No write of its own claims the saga: the first write of the drive does,
// a compare-and-swap from the version read while the saga waited, and
// nothing before that write has an effect (the signal's take rides in
// it, OnSignal changes the state in memory, a Local step's writes commit
// with the record's, a remote step's call follows the write of its
// start). Of two drives that wake the saga at once, the one whose write
// loses stops there; the events of a drive before its first write
// (EventResumed, EventWoken, a Local step's EventStepStarted) reach the
// listeners once that write succeeded, so the losing drive emits none. A
// drive that stops before the write leaves the saga waiting with its
// signal pending, for a later delivery. A wake-up followed by a Local
// step thus costs one transaction, the step's, instead of three.
//
// delivered, if not nil, is the signal of the saga's wait as Signal stored
// it: the drive need not read it.
func (o *Orchestrator) wake(ctx context.Context, def Definition, rec *Record, delivered *Signal) (outcome, error) {
	if rec.Status != StatusWaiting {
		return outcomeSkipped, nil
	}
	now := time.Now()
	rec.Status, rec.WaitKey, rec.WakeAt, rec.UpdatedAt = StatusRunning, "", time.Time{}, now
	rec.Owner, rec.LeaseUntil = o.id, now.Add(o.lease)
	return o.resumeOutcome(ctx, def, rec, &wakeUp{delivered: delivered})
}

// dueBatch is how many due sagas the timer loop lists at a time.
const dueBatch = 256

// RunTimers is the timer loop: it wakes the waiting sagas whose WakeAt
// has come (timers that fire, waits that time out, deadlines that pass),
// and, once a lease (WithLease), those whose signal is pending (a crash
// stopped its delivery, or the saga's park, between storing it and
// taking it), and drives them, up to WithRecoverConcurrency at once, until ctx ends
// or o is closed; then it returns nil. It sleeps until the earliest
// wake-up in the store, and looks again at least every WithTimerPoll
// (default 1s), for sagas parked by other orchestrators; a saga this
// orchestrator parks with a wake-up before the loop's next look wakes it at
// once. Run it in a goroutine you own, in
// every process whose orchestrator drives sagas with waits (each due saga
// is taken by one of them, with a compare-and-swap). Wake-ups that fell
// due while no orchestrator ran fire on its first look, and in Recover.
//
// It returns an error wrapping ErrInvalidOption at once if o's store is
// not a [WaitStore]. The store's errors are logged at Warn and retried at
// the next look.
func (o *Orchestrator) RunTimers(ctx context.Context) error {
	if o.waitStore == nil {
		return fmt.Errorf("saga: run timers: %w: the store (%T) does not implement WaitStore", ErrInvalidOption, o.store)
	}
	// Reset (Go 1.23 timers) discards a tick not received: no draining.
	t := time.NewTimer(o.timerPoll)
	defer t.Stop()
	var (
		lastPrune, lastPending time.Time
		after                  *Cursor // where the next look continues, past a full batch
	)
	defer o.timerAt.Store(0)
	for {
		o.timerAt.Store(0)
		// Pending signals are looked for once a lease: they are left by
		// a crash, and the look costs a probe per pending signal.
		pending := time.Since(lastPending) >= o.lease
		if pending {
			lastPending = time.Now()
		}
		res, err := o.wakeDue(ctx, after, pending)
		switch {
		case errors.Is(err, ErrClosed):
			return nil
		case err != nil && ctx.Err() == nil:
			o.log.Warn("saga: timers", "err", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		if o.signalRetention > 0 && time.Since(lastPrune) >= o.signalRetention/24 {
			lastPrune = time.Now()
			if _, err := o.waitStore.PruneSignals(ctx, lastPrune.Add(-o.signalRetention)); err != nil && ctx.Err() == nil {
				o.log.Warn("saga: prune signals", "err", err)
			}
		}
		after = nil
		if res.next != nil {
			after = res.next
			continue // more may be due; those that failed stay behind
		}
		d := o.timerPoll
		if next, err := o.waitStore.NextWake(ctx); err == nil && !next.IsZero() {
			d = min(d, time.Until(next))
		} else if err != nil && ctx.Err() == nil {
			o.log.Warn("saga: timers: next wake-up", "err", err)
		}
		d = max(d, 0)
		o.timerAt.Store(time.Now().Add(d).UnixNano())
		t.Reset(d)
		select {
		case <-ctx.Done():
			return nil
		case <-o.closing:
			return nil
		case <-o.nudge:
		case <-t.C:
		}
	}
}

// dueResult counts what a look for due sagas did.
type dueResult struct {
	RecoverResult
	next *Cursor // the last of a full batch: more may be due after it
}

// wakeDue wakes and drives one batch of the waiting sagas due now (after
// the cursor after, if not nil) and, with pending, those whose signal is
// pending: it came while no orchestrator could deliver it (the one that
// stored it stopped before, or the one that parked the saga stopped
// before it looked for it).
func (o *Orchestrator) wakeDue(ctx context.Context, after *Cursor, pending bool) (dueResult, error) {
	var res dueResult
	if err := o.enter(); err != nil {
		return res, err
	}
	defer o.runs.Done()
	waiting := []Status{StatusWaiting}
	recs, err := o.store.List(ctx, Filter{Statuses: waiting, DueBy: time.Now(), After: after, Limit: dueBatch})
	if err != nil {
		return res, fmt.Errorf("saga: timers: %w", err)
	}
	if len(recs) == dueBatch {
		c := recs[len(recs)-1].Cursor()
		res.next = &c
	}
	if pending {
		signalled, err := o.store.List(ctx, Filter{Statuses: waiting, Signalled: true, Limit: dueBatch})
		if err != nil {
			return res, fmt.Errorf("saga: timers: %w", err)
		}
		recs = appendNew(recs, signalled)
	}
	err = o.drive(ctx, recs, &res.RecoverResult)
	return res, err
}

// appendNew appends to recs those of more whose ID is not in recs.
func appendNew(recs, more []*Record) []*Record {
	for _, rec := range more {
		if !slices.ContainsFunc(recs, func(r *Record) bool { return r.ID == rec.ID }) {
			recs = append(recs, rec)
		}
	}
	return recs
}

// nudgeTimers wakes the timer loop to look at the store again, unless its
// next look comes before wake anyway. The loop clears timerAt before each
// look and sets it after reading the next wake-up: a park committed after
// that read finds timerAt set and compares; one committed before it is in
// the read, or finds timerAt clear and nudges.
func (o *Orchestrator) nudgeTimers(wake time.Time) {
	if at := o.timerAt.Load(); at != 0 && wake.UnixNano() >= at {
		return
	}
	select {
	case o.nudge <- struct{}{}:
	default:
	}
}

// drive claims and drives recs (in flight, or waiting and due), up to
// WithRecoverConcurrency at once, and counts the outcomes in res.
func (o *Orchestrator) drive(ctx context.Context, recs []*Record, res *RecoverResult) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, o.recoverConcurrency)
	)
	for _, rec := range recs {
		// Left alone: a saga another live orchestrator holds, and one this
		// orchestrator is driving itself (Recover may run periodically).
		// The workers started so far update res and errs too: under mu.
		if rec.Status != StatusWaiting && rec.Owner != o.id && time.Now().Before(rec.LeaseUntil) || o.driving(rec.ID) {
			mu.Lock()
			res.Skipped++
			mu.Unlock()
			continue
		}
		def, err := o.definition(rec.Name)
		if err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("saga: recover %s: %w", rec.ID, err))
			mu.Unlock()
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			var (
				outcome outcome
				err     error
			)
			if rec.Status == StatusWaiting {
				outcome, err = o.wake(ctx, def, rec, nil)
			} else {
				outcome, err = o.claimAndResume(ctx, def, rec)
			}
			mu.Lock()
			defer mu.Unlock()
			switch outcome {
			case outcomeSkipped:
				res.Skipped++
				return
			case outcomeCompleted:
				res.Completed++
			case outcomeCompensated:
				res.Compensated++
			case outcomeCompensationFailed:
				res.CompensationFailed++
			case outcomeWaiting:
				res.Waiting++
			}
			res.Resumed++
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("saga: recover: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}
