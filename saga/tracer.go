package saga

import "context"

// Tracer starts the spans of sagas: one per run of an instance, and a child
// per step attempt and per compensation attempt. The orchestrator calls it
// only when one is given ([WithTracer]); package saga/sagatrace implements
// it with OpenTelemetry, so that this package compiles no tracing library.
//
// Implementations must be safe for concurrent use.
type Tracer interface {
	// StartRun starts the span of one run of a saga instance: [Saga.Run],
	// or its continuation by Recover or RetryCompensation. The orchestrator
	// drives the steps with the context it returns, and calls end once,
	// when the run stops, with the instance's status and the error the run
	// returns (nil when every step completed). end may be nil.
	StartRun(ctx context.Context, span RunSpan) (_ context.Context, end func(Status, error))
	// StartAttempt starts the span of one attempt of a step's Execute or
	// Compensate, with the context of the run's span as parent. The step
	// runs with the context it returns, and end is called once, when the
	// attempt returns, with its error. end may be nil.
	StartAttempt(ctx context.Context, span AttemptSpan) (_ context.Context, end func(error))
}

// RunSpan describes the span of a saga run.
type RunSpan struct {
	// Name is the span's name: "saga <saga name>" for Saga.Run, "saga <saga
	// name> resume" for a run that continues a stored instance.
	Name string
	// Saga is the saga's name; SagaID the instance's ID.
	Saga, SagaID string
	// Resume is true when the run continues a stored instance (Recover,
	// RetryCompensation) rather than starting it.
	Resume bool
}

// AttemptSpan describes the span of a step attempt.
type AttemptSpan struct {
	// Name is the span's name: "saga step <step>" for an Execute attempt,
	// "saga compensate <step>" for a Compensate attempt.
	Name string
	// Saga is the saga's name; SagaID the instance's ID; Step the step's.
	Saga, SagaID, Step string
	// Attempt counts the attempts of this Execute (or of this Compensate),
	// from 1.
	Attempt int
	// Compensating is true for a Compensate attempt.
	Compensating bool
}
