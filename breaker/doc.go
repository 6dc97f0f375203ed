// Package breaker implements the circuit breaker pattern: it stops calling a
// dependency that is failing or slow, fails fast instead, and lets a few
// probe calls through after a while to find out whether it has recovered.
//
// # Where to start
//
// Make a breaker with [New] and run calls through [Breaker.Execute], or
// through the generic [Do] for a typed result, with [DoWithFallback] when a
// degraded answer beats an error. Middleware that cannot wrap the call in a
// function uses the two-step [Breaker.Allow] (or the allocation-free
// [Breaker.Acquire] and [Permit]). For HTTP clients use [NewTransport] (one
// breaker) or [NewHostTransport] (one per host, from a [Set]); gRPC client
// interceptors are in package breakergrpc, Prometheus metrics and OTel span
// events in package breakermetrics.
//
// # States
//
// A breaker is [Closed] (calls flow, trip rules watch them), [Open] (calls
// fail at once with an [*OpenError] matching [ErrOpen]), or [HalfOpen] (a
// bounded number of probes decide whether to close again). Operators can
// [Breaker.ForceOpen] or [Breaker.Disable] it, and [Breaker.Reset] it.
//
// # Trip rules
//
//   - failure rate over a sliding window ([WithFailureRate]), count-based
//     ([WithCountWindow]) or time-based ([WithTimeWindow]), with a minimum
//     number of calls: the default, half of the last 100 calls once 20
//     were made;
//   - consecutive failures ([WithConsecutiveFailures]), for low traffic;
//   - slow-call rate ([WithSlowCalls]).
//
// The open duration starts short ([WithOpenDuration], one second by
// default) and grows exponentially on each re-open, capped, with optional
// jitter ([WithOpenBackoff]; 30 s by default), so that a short fault costs
// a short outage. A [Classifier] decides which errors count; by default a
// caller's own cancellation never does, nor a call whose deadline was spent
// before it started, nor one that was never sent ([ErrNotSent]); a
// deadline that passes while the call is in flight does, since that is how
// a hung dependency shows itself.
//
// # Cost
//
// While closed, a call takes no lock, allocates nothing, and reads the
// clock only when a rule needs time: once per call for a time window, twice
// (start and end) for the slow-call rule. A breaker owns no goroutine: an
// open breaker becomes half-open when a call or [Breaker.State] next looks
// at it. See docs/breaker.md for each option and docs/benchmarks.md for the
// figures against sony/gobreaker and failsafe-go.
//
// # Testing
//
// A breaker reads the time from the time package, so a test of code that
// uses one runs in a testing/synctest bubble and steps through open
// durations, half-open timeouts and windows with time.Sleep, which there
// moves a fake clock at once; make the breaker inside the bubble.
package breaker
