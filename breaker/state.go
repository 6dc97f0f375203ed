package breaker

import (
	"context"
	"strconv"
	"time"
)

// State is the state of a breaker.
type State uint8

const (
	// Closed lets every call through and watches the trip rules.
	Closed State = iota
	// Open rejects every call with an [*OpenError] until the open duration
	// has passed.
	Open
	// HalfOpen lets a bounded number of probe calls through; enough
	// successes close the breaker, a failure opens it again.
	HalfOpen
	// ForcedOpen rejects every call until an operator calls
	// [Breaker.Reset] or [Breaker.Disable].
	ForcedOpen
	// Disabled lets every call through and records nothing, until an
	// operator calls [Breaker.Reset] or [Breaker.ForceOpen].
	Disabled
)

// String returns the state's lower-case name, as used in metrics labels.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	case ForcedOpen:
		return "forced-open"
	case Disabled:
		return "disabled"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Outcome is how a finished call counts for the breaker.
type Outcome uint8

const (
	// Success counts as a healthy call.
	Success Outcome = iota
	// Failure counts towards the trip rules; in half-open it opens the
	// breaker again.
	Failure
	// Ignored does not count at all; a half-open probe that ends ignored
	// gives its slot back.
	Ignored
	// Rejected is a call the breaker refused; it is only reported to an
	// [Observer]. A Classifier should not return it; recorded, it counts
	// as Ignored.
	Rejected
)

// String returns the outcome's lower-case name, as used in metrics labels.
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Ignored:
		return "ignored"
	case Rejected:
		return "rejected"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Reason says why a breaker changed state.
type Reason string

// The reasons a [Transition] carries.
const (
	ReasonConsecutiveFailures Reason = "consecutive-failures"
	ReasonFailureRate         Reason = "failure-rate"
	ReasonSlowCallRate        Reason = "slow-call-rate"
	ReasonOpenElapsed         Reason = "open-duration-elapsed"
	ReasonProbeFailed         Reason = "probe-failed"
	ReasonProbesSucceeded     Reason = "probes-succeeded"
	ReasonHalfOpenTimeout     Reason = "half-open-max-time"
	ReasonOperator            Reason = "operator"
)

// Transition describes one change of state, as given to listeners and
// observers.
type Transition struct {
	// Name is the breaker's name.
	Name string
	// From and To are the states before and after.
	From, To State
	// Reason says which rule or event caused it.
	Reason Reason
	// At is when the breaker made the change, by its clock. A change that
	// time alone causes (open to half-open) is made when a call or State
	// next looks, so At can be later than OpenUntil.
	At time.Time
	// OpenUntil is, when To is Open, when the breaker will let probes
	// through; zero otherwise.
	OpenUntil time.Time
}

// Listener is called after each state change, outside any lock, in the
// order the changes happened. ctx is the context of the call whose result
// caused the change (context.Background for changes driven by time), so a
// listener can add a span event to the caller's trace. Listeners run in the
// goroutine of the call that caused the change, which waits for them; if
// another goroutine is already running listeners, that one runs them
// instead, so that the order holds. A listener must not block for long, and
// may call the breaker's methods.
type Listener func(ctx context.Context, t Transition)

// Observer watches one breaker's calls and state changes, for metrics and
// tracing (see package breakermetrics). Call runs on every call's path, so
// it must be cheap and safe for concurrent use; Transition runs like a
// [Listener].
type Observer interface {
	// Call reports a finished call's outcome (or Rejected) and whether it
	// was slower than the slow-call threshold.
	Call(o Outcome, slow bool)
	// Transition reports a change of state.
	Transition(ctx context.Context, t Transition)
}

// EvictionObserver is an [Observer] that also wants to know when a [Set]
// evicts its breaker, to drop what it keeps for it (metrics series, say),
// so that the set's bound on memory holds for observers too. Evicted is
// called once, with the set's lock held: it must not call back into the
// set.
type EvictionObserver interface {
	Observer
	Evicted()
}
