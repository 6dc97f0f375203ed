package saga

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// Option configures an [Orchestrator].
type Option func(*Orchestrator) error

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
}

// WithOwnerID sets the orchestrator's identity, recorded as the owner of the
// sagas it drives. The default is random per process. Give a stable ID (a
// pod name) so that a restarted instance's Recover takes its own sagas back
// at once instead of waiting for their leases to lapse; two live
// orchestrators must never share an ID.
func WithOwnerID(id string) Option {
	return func(o *Orchestrator) error {
		if id == "" {
			return invalid("empty owner id")
		}
		o.id = id
		return nil
	}
}

// WithLease sets how long a claim on a saga lasts without renewal (default
// 30s). The orchestrator renews the claim of every saga it drives each
// third of the lease, and another orchestrator's Recover takes over a saga
// only after its lease lapsed. Shorter leases recover a dead instance's
// sagas sooner; the lease must comfortably exceed a store round trip.
func WithLease(d time.Duration) Option {
	return func(o *Orchestrator) error {
		if d <= 0 {
			return invalid("lease %v must be positive", d)
		}
		o.lease = d
		return nil
	}
}

// WithTracer sets the tracer that starts a span per saga run, with a child
// per step attempt and per compensation attempt, such as the OpenTelemetry
// tracer of package saga/sagatrace. The default, and for nil, is none: no
// span is started and tracing costs nothing.
func WithTracer(t Tracer) Option {
	return func(o *Orchestrator) error {
		o.tracer = t
		return nil
	}
}

// WithListener adds a lifecycle listener, such as the Prometheus metrics of
// package saga/sagametrics or a pager for EventCompensationFailed. It may be
// given several times; a nil listener adds nothing.
func WithListener(l Listener) Option {
	return func(o *Orchestrator) error {
		if l != nil {
			o.listeners = append(o.listeners, l)
		}
		return nil
	}
}

// WithLogger sets the logger (default, and for nil: slog.Default()). The
// orchestrator logs compensation failures at Error, and lease and recovery
// trouble at Warn.
func WithLogger(l *slog.Logger) Option {
	return func(o *Orchestrator) error {
		if l == nil {
			l = slog.Default()
		}
		o.log = l
		return nil
	}
}

// WithCompensationRetry sets the retry policy of compensations whose step
// sets no CompensateRetry. The default makes as many attempts as fit in 2
// minutes, 100ms doubling to 10s apart with full jitter: a compensation
// releases what its saga holds, so it is worth waiting out a participant's
// brief outage before a human has to step in. An invalid policy (see [retry.Policy.Validate])
// makes NewOrchestrator return an error wrapping ErrInvalidOption and
// retry.ErrInvalidOption.
func WithCompensationRetry(policy retry.Policy) Option {
	return func(o *Orchestrator) error {
		if err := policy.Validate(); err != nil {
			return invalid("compensation retry: %w", err)
		}
		o.compensationRetry = policy
		return nil
	}
}

// WithContinueOnCompensationFailure makes a compensation that failed for
// good not stop the others: the steps before it are still compensated, in
// reverse order, and then the saga ends StatusCompensationFailed, listed by
// Failed with every step whose compensation failed in
// StepCompensationFailed. Use it when the compensations are independent of
// each other (releasing stock does not need the refund to have happened),
// so that one participant's outage does not hold the others' resources.
//
// The default halts at the first compensation that fails: reverse order is
// a promise that a compensation runs only once every later step is undone
// (an order is cancelled only after its payment was refunded), and a
// halted saga leaves exactly one thing for the operator to fix before
// RetryCompensation carries on in order.
func WithContinueOnCompensationFailure() Option {
	return func(o *Orchestrator) error {
		o.continueCompensating = true
		return nil
	}
}

// WithRecoverConcurrency sets how many sagas Recover, and each look of
// RunTimers, drives at once (default 4).
func WithRecoverConcurrency(n int) Option {
	return func(o *Orchestrator) error {
		if n < 1 {
			return invalid("recover concurrency %d must be at least 1", n)
		}
		o.recoverConcurrency = n
		return nil
	}
}

// WithTimerPoll sets how often [Orchestrator.RunTimers] looks for due
// sagas when it knows of none sooner (default 1s): the bound on how late
// a wake-up parked by another orchestrator may fire (one this
// orchestrator parks, or that the store lists as next, fires on time).
// Each look is one indexed query.
func WithTimerPoll(d time.Duration) Option {
	return func(o *Orchestrator) error {
		if d <= 0 {
			return invalid("timer poll %v must be positive", d)
		}
		o.timerPoll = d
		return nil
	}
}

// WithSignalRetention sets how long signals are kept (default 7 days):
// [Orchestrator.RunTimers] deletes older ones, taken or not. Keep it
// longer than a saga waits and than its events may be redelivered: a
// pending signal older than it is lost, and a duplicate of a deleted one
// is stored again as pending, never taken. A negative d keeps them for
// ever.
func WithSignalRetention(d time.Duration) Option {
	return func(o *Orchestrator) error {
		if d == 0 {
			return invalid("signal retention must not be zero (negative keeps signals for ever)")
		}
		o.signalRetention = max(d, 0)
		return nil
	}
}

// defaultCompensationRetry is the compensations' policy unless
// WithCompensationRetry sets one.
var defaultCompensationRetry = retry.Policy{
	MaxAttempts: -1,
	MaxElapsed:  2 * time.Minute,
	Backoff:     retry.Backoff{Initial: 100 * time.Millisecond, Max: 10 * time.Second},
}

// RunOption configures one saga instance started by [Saga.Run].
type RunOption func(*runConfig)

type runConfig struct {
	id       string
	deadline time.Time
}

// WithID sets the instance's ID (default: random). Use a business key, such
// as the order ID, to make starting a saga idempotent: a second Run with the
// same ID fails with ErrDuplicate instead of running it twice.
func WithID(id string) RunOption { return func(c *runConfig) { c.id = id } }

// WithDeadline sets when the saga stops going forward: a step that has not
// started by then is not started, an attempt in progress is cancelled, and
// the saga compensates with cause ErrDeadlineExceeded. Compensations are
// not bound by it: they get the step's timeout and their retry policy. The
// deadline is persisted, so it holds across Recover.
func WithDeadline(t time.Time) RunOption { return func(c *runConfig) { c.deadline = t } }
