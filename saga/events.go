package saga

import (
	"context"
	"time"
)

// EventKind names a lifecycle event.
type EventKind int

// The lifecycle events, in the order a saga meets them.
const (
	// EventStarted: Run created the instance. When the first step is
	// Local, the record is created by that step's transaction: the event
	// follows its commit, after the step's EventStepStarted and
	// EventStepSucceeded.
	EventStarted EventKind = iota + 1
	// EventResumed: Recover or RetryCompensation took the instance over.
	EventResumed
	// EventStepStarted: an attempt of a step's Execute begins.
	EventStepStarted
	// EventStepSucceeded: an attempt of Execute returned nil.
	EventStepSucceeded
	// EventStepFailed: an attempt of Execute returned Err.
	EventStepFailed
	// EventCompensating: the saga starts compensating because of Err.
	EventCompensating
	// EventStepCompensated: a step's Compensate returned nil.
	EventStepCompensated
	// EventCompensationAttemptFailed: an attempt of Compensate returned Err;
	// it will be retried unless its policy stops.
	EventCompensationAttemptFailed
	// EventCompleted: every step completed (terminal).
	EventCompleted
	// EventCompensated: every completed step was compensated (terminal).
	EventCompensated
	// EventCompensationFailed: a compensation failed for good (terminal, and
	// the one to page someone for).
	EventCompensationFailed
	// EventResolved: an operator resolved a failed saga by hand.
	EventResolved
	// EventWaiting: the saga parked in a waiting step, Step.
	EventWaiting
	// EventWoken: the wait of Step ended well: its signal (of type
	// Signal) was taken and accepted, or its timer fired.
	EventWoken
)

var eventNames = [...]string{
	EventStarted:                   "started",
	EventResumed:                   "resumed",
	EventStepStarted:               "step_started",
	EventStepSucceeded:             "step_succeeded",
	EventStepFailed:                "step_failed",
	EventCompensating:              "compensating",
	EventStepCompensated:           "step_compensated",
	EventCompensationAttemptFailed: "compensation_attempt_failed",
	EventCompleted:                 "completed",
	EventCompensated:               "compensated",
	EventCompensationFailed:        "compensation_failed",
	EventResolved:                  "resolved",
	EventWaiting:                   "waiting",
	EventWoken:                     "woken",
}

// String returns the event's snake_case name.
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event describes one lifecycle event of a saga instance.
type Event struct {
	// Kind is what happened.
	Kind EventKind
	// Saga is the definition's name and SagaID the instance's ID.
	Saga, SagaID string
	// Step is the step concerned, for step and compensation events.
	Step string
	// Attempt counts the step's executions or compensations, from 1.
	Attempt int
	// Duration is how long the attempt took, for EventStepSucceeded,
	// EventStepFailed, EventStepCompensated and
	// EventCompensationAttemptFailed.
	Duration time.Duration
	// Err is the attempt's error or the saga's cause, where there is one.
	Err error
	// Signal is the type of the signal that ended a wait, for EventWoken.
	Signal string
}

// Listener observes lifecycle events, for instance to page someone on
// EventCompensationFailed. OnEvent is called synchronously from the
// goroutine driving the saga (several at once for a parallel group), so it
// must be safe for concurrent use and return quickly.
type Listener interface {
	OnEvent(ctx context.Context, e Event)
}

// ListenerFunc adapts a function to a [Listener].
type ListenerFunc func(ctx context.Context, e Event)

// OnEvent calls f.
func (f ListenerFunc) OnEvent(ctx context.Context, e Event) { f(ctx, e) }
