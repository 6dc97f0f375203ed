// Package sagatrace traces sagas with OpenTelemetry: [New] returns a
// [saga.Tracer] to give an orchestrator with [saga.WithTracer].
//
//	tracer, err := sagatrace.New() // the global provider; or sagatrace.WithTracerProvider(tp)
//	o, err := saga.NewOrchestrator(store, saga.WithTracer(tracer))
//
// Each run of a saga gets a span, "saga <name>" ("saga <name> resume" when
// Recover or RetryCompensation continues it), child of the span in the
// caller's context, ending with the attributes saga.id and saga.status. Each
// step attempt gets a child span, "saga step <step>" or "saga compensate
// <step>", with saga.id, saga.step and saga.attempt. A span whose run or
// attempt failed records the error as an event and has status Error.
//
// Attempts get spans only under a recording run span: a saga that is not
// traced (sampled out, as ParentBased sampling would decide for its
// children anyway) pays for one span, not one per attempt. On the global
// provider with no SDK installed, no span is started at all, until an SDK
// is installed.
//
// The spans' instrumentation scope is [ScopeName].
package sagatrace
