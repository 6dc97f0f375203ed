package saga

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// Definition is a saga definition as the orchestrator sees it, whatever its
// state type: a *[Saga] implements it.
type Definition interface {
	// Name returns the saga's name.
	Name() string
	local() bool // a step is Local
	waits() bool // a step is a waiting step
	resume(ctx context.Context, o *Orchestrator, rec *Record, w *wakeUp) error
}

// leaseHolder is a run whose lease the keeper renews.
type leaseHolder interface {
	renew(ctx context.Context)
}

// Orchestrator drives saga instances over a [Store]: it runs them
// ([Saga.Run]), resumes those a crash left in flight ([Orchestrator.Recover])
// and lets an operator handle those whose compensation failed
// ([Orchestrator.Failed], [Orchestrator.RetryCompensation],
// [Orchestrator.Resolve]).
//
// Several orchestrators, in one process or many, may share a store: each
// saga instance is claimed by one owner with a lease that the owner renews
// while it drives it, and every write is a compare-and-swap on the record's
// version, so two orchestrators never drive one instance at once.
//
// It owns a goroutine that renews leases; [Orchestrator.Close] stops it.
// With waiting steps ([Wait]), [Orchestrator.Signal] delivers events to
// parked sagas and [Orchestrator.RunTimers] is the loop that wakes them
// when their time comes. It is safe for concurrent use.
type Orchestrator struct {
	store                Store
	txStore              TxStore   // store, if it is one: Local steps need it
	waitStore            WaitStore // store, if it is one: waiting steps need it
	parkStore            ParkStore // store, if it is one: parks and signals meet in it
	id                   string
	lease                time.Duration
	tracer               Tracer // nil: no spans
	listeners            []Listener
	log                  *slog.Logger
	compensationRetry    retry.Policy
	continueCompensating bool // WithContinueOnCompensationFailure
	recoverConcurrency   int
	idPrefix             string        // random per orchestrator
	idSeq                atomic.Uint64 // atomic: taken once per Run, on the hot path
	timerPoll            time.Duration // WithTimerPoll
	signalRetention      time.Duration // WithSignalRetention
	nudge                chan struct{} // a saga parked: the timer loop looks again
	// timerAt is when the timer loop looks next (Unix nanoseconds), or 0
	// while it looks or when none runs: a park nudges the loop only for a
	// wake-up before its next look, so that parks with distant deadlines
	// cost no read.
	timerAt atomic.Int64
	closing chan struct{} // closed by Close: the timer loop returns

	mu     sync.Mutex
	defs   map[string]Definition
	active map[string]leaseHolder // the sagas o drives now, by ID
	closed bool

	runs      sync.WaitGroup // Run, Recover and RetryCompensation calls
	stop      chan struct{}
	keeper    sync.WaitGroup // the lease keeper
	closeOnce sync.Once
}

// NewOrchestrator returns an orchestrator over store. It returns an error
// wrapping ErrInvalidOption if an option is invalid. Close it when done.
func NewOrchestrator(store Store, opts ...Option) (*Orchestrator, error) {
	if store == nil {
		return nil, invalid("nil store")
	}
	host, _ := os.Hostname()
	o := &Orchestrator{
		store:              store,
		id:                 fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:8]),
		lease:              30 * time.Second,
		log:                slog.Default(),
		compensationRetry:  defaultCompensationRetry,
		recoverConcurrency: 4,
		defs:               make(map[string]Definition),
		active:             make(map[string]leaseHolder),
		stop:               make(chan struct{}),
		timerPoll:          time.Second,
		signalRetention:    7 * 24 * time.Hour,
		nudge:              make(chan struct{}, 1),
		closing:            make(chan struct{}),
	}
	for _, opt := range opts {
		if opt == nil {
			continue // a nil Option is no option
		}
		if err := opt(o); err != nil {
			return nil, fmt.Errorf("saga: new orchestrator: %w", err)
		}
	}
	o.txStore, _ = store.(TxStore)
	o.waitStore, _ = store.(WaitStore)
	o.parkStore, _ = store.(ParkStore)
	o.idPrefix = rand.Text()[:16] + "-"
	stop := o.stop
	o.keeper.Go(func() { o.keepLeases(stop) })
	return o, nil
}

// newID returns a saga ID unique across orchestrators: a random prefix per
// orchestrator and a counter, cheaper than random bytes per saga.
func (o *Orchestrator) newID() string {
	var b [40]byte
	return string(strconv.AppendUint(append(b[:0], o.idPrefix...), o.idSeq.Add(1), 10))
}

// startRun starts the span of a run of the instance id of s, if o has a
// tracer. The returned end is nil when it has none.
func (o *Orchestrator) startRun(ctx context.Context, name, saga, id string, resume bool) (context.Context, func(Status, error)) {
	if o.tracer == nil {
		return ctx, nil
	}
	return o.tracer.StartRun(ctx, RunSpan{Name: name, Saga: saga, SagaID: id, Resume: resume})
}

// ID returns the orchestrator's owner ID.
func (o *Orchestrator) ID() string { return o.id }

// Register makes definitions known to o: [Saga.Run] starts only registered
// sagas, and Recover and RetryCompensation continue only their instances.
// Register every saga at start-up, before Recover and before serving. It
// returns an error wrapping ErrInvalidOption if another definition has the
// same name, or if a definition has a Local step and o's store is not a
// [TxStore]; registering a definition again does nothing.
func (o *Orchestrator) Register(defs ...Definition) error {
	for _, d := range defs {
		if err := o.register(d); err != nil {
			return err
		}
	}
	return nil
}

func (o *Orchestrator) register(d Definition) error {
	if d.local() && o.txStore == nil {
		return invalid("saga %s has a Local step: the orchestrator's store (%T) does not implement TxStore", d.Name(), o.store)
	}
	if d.waits() && o.waitStore == nil {
		return invalid("saga %s has a waiting step: the orchestrator's store (%T) does not implement WaitStore", d.Name(), o.store)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch prev, ok := o.defs[d.Name()]; {
	case !ok:
		o.defs[d.Name()] = d
	case prev != d:
		return invalid("another saga named %s is registered", d.Name())
	}
	return nil
}

// registered returns nil if d itself is registered on o, else an error
// wrapping ErrUnknownSaga.
func (o *Orchestrator) registered(d Definition) error {
	o.mu.Lock()
	prev, ok := o.defs[d.Name()]
	o.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("%w: not registered on the orchestrator: call Orchestrator.Register first", ErrUnknownSaga)
	case prev != d:
		return fmt.Errorf("%w: another definition is registered under its name", ErrUnknownSaga)
	}
	return nil
}

func (o *Orchestrator) definition(name string) (Definition, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	d, ok := o.defs[name]
	if !ok {
		return nil, fmt.Errorf("saga: %w: %s is not registered", ErrUnknownSaga, name)
	}
	return d, nil
}

// enter counts a call that drives sagas, unless o is closed.
func (o *Orchestrator) enter() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	o.runs.Add(1)
	return nil
}

func (o *Orchestrator) track(id string, h leaseHolder) {
	o.mu.Lock()
	o.active[id] = h
	o.mu.Unlock()
}

func (o *Orchestrator) untrack(id string) {
	o.mu.Lock()
	delete(o.active, id)
	o.mu.Unlock()
}

// driving reports whether o is driving the saga id right now.
func (o *Orchestrator) driving(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.active[id]
	return ok
}

// keepLeases renews the lease of every saga o is executing a step of, each
// third of the lease, until Close.
func (o *Orchestrator) keepLeases(stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t := time.NewTicker(max(o.lease/3, 1)) // a lease under 3ns would make it 0, which panics
	defer t.Stop()
	var holders []leaseHolder
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		o.mu.Lock()
		holders = holders[:0]
		for _, h := range o.active {
			holders = append(holders, h)
		}
		o.mu.Unlock()
		for _, h := range holders {
			h.renew(ctx)
		}
	}
}

// Close stops o from starting new work, stops RunTimers, waits for the
// sagas it is driving to stop (or for ctx to end) and stops the lease
// keeper. Parked sagas stay parked in the store. Sagas interrupted
// by a caller's context stay in flight for Recover. Close is idempotent.
func (o *Orchestrator) Close(ctx context.Context) error {
	o.closeOnce.Do(func() {
		o.mu.Lock()
		o.closed = true
		o.mu.Unlock()
		close(o.closing)
	})
	done := make(chan struct{})
	go func() {
		o.runs.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("saga: close: %w", ctx.Err())
	}
	o.mu.Lock()
	if o.stop != nil {
		close(o.stop)
		o.stop = nil
	}
	o.mu.Unlock()
	o.keeper.Wait()
	return nil
}
