package breaker_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

const (
	closed   = breaker.Closed
	open     = breaker.Open
	halfOpen = breaker.HalfOpen
)

var (
	errOpen     = breaker.ErrOpen
	errTooMany  = breaker.ErrTooManyProbes
	consecutive = breaker.WithConsecutiveFailures
	openFor     = breaker.WithOpenDuration
)

func TestTransitions(t *testing.T) {
	tests := []struct {
		name  string
		opts  []breaker.Option
		steps []step
	}{
		{"consecutive failures open, a success resets the run", []breaker.Option{consecutive(3), openFor(10 * time.Second)}, []step{
			{call: callFail, want: closed},
			{call: callFail, want: closed},
			{call: callOK, want: closed},
			{call: callFail, want: closed},
			{call: callFail, want: closed},
			{call: callFail, want: open},
			{call: callOK, wantErr: errOpen, want: open},
		}},
		{"default: five failures in a row are a blip, not an outage", nil, repeat(step{call: callFail, want: closed}, 5)},
		{"default trips at half of the calls once twenty were made", nil, append(append(
			repeat(step{call: callOK, want: closed}, 10),
			repeat(step{call: callFail, want: closed}, 9)...),
			step{call: callFail, want: open}, // 10 of 20
		)},
		{"default: opens for a second, doubling on each trip after the probes, capped; a close resets it", []breaker.Option{consecutive(1)}, []step{
			{call: callFail, want: open},
			{advance: time.Second, call: callFail, want: open}, // the probe fails: 2s
			{advance: 2*time.Second - 1, call: callOK, wantErr: errOpen, want: open},
			{advance: 1, call: callFail, want: open},                // 4s
			{advance: 4 * time.Second, call: callFail, want: open},  // 8s
			{advance: 8 * time.Second, call: callFail, want: open},  // 16s
			{advance: 16 * time.Second, call: callFail, want: open}, // 30s, not 32s
			{advance: 30 * time.Second, call: callOK, want: closed}, // probe succeeds
			{call: callFail, want: open},                            // a new trip: 1s again
			{advance: time.Second, call: callOK, want: closed},
		}},
		{"calls past the caller's deadline never open", []breaker.Option{consecutive(1)}, []step{
			{call: callDeadline, want: closed},
			{call: callDeadline, want: closed},
			{call: callFail, want: open},
		}},
		{"calls never sent never open", []breaker.Option{consecutive(1)}, []step{
			{call: callNotSent, want: closed},
			{call: callNotSent, want: closed},
			{call: callFail, want: open},
		}},
		{"a window alone takes the default rate", []breaker.Option{breaker.WithCountWindow(2, 2)}, []step{
			{call: callOK, want: closed},
			{call: callFail, want: open},
		}},
		{"open turns half-open when the open duration ends, with no traffic", []breaker.Option{consecutive(1), openFor(10 * time.Second)}, []step{
			{call: callFail, want: open},
			{advance: 10*time.Second - 1, want: open},
			{call: callOK, wantErr: errOpen, want: open},
			{advance: 1, want: halfOpen},
			{call: callOK, want: closed},
		}},
		{"a failed probe opens again for a full open duration", []breaker.Option{consecutive(1), openFor(10 * time.Second), breaker.WithOpenBackoff(1, 10*time.Second, 0)}, []step{
			{call: callFail, want: open},
			{advance: 10 * time.Second, call: callFail, want: open},
			{advance: 9 * time.Second, call: callOK, wantErr: errOpen, want: open},
			{advance: time.Second, call: callOK, want: closed},
		}},
		{"probes are bounded in total, not just at once", []breaker.Option{consecutive(1), openFor(time.Second), breaker.WithHalfOpen(2, 2)}, []step{
			{call: callFail, want: open},
			{advance: time.Second, call: acquire, want: halfOpen},
			{call: acquire, want: halfOpen},
			{call: acquire, wantErr: errTooMany, want: halfOpen},
			{call: releaseOK, want: halfOpen},
			{call: acquire, wantErr: errTooMany, want: halfOpen},
			{call: releaseOK, want: closed},
		}},
		{"an ignored probe gives its slot back", []breaker.Option{consecutive(1), openFor(time.Second)}, []step{
			{call: callFail, want: open},
			{advance: time.Second, call: acquire, want: halfOpen},
			{call: callOK, wantErr: errTooMany, want: halfOpen},
			{call: releaseIgnore, want: halfOpen},
			{call: acquire, want: halfOpen},
			{call: releaseOK, want: closed},
		}},
		{"a cancelled probe gives its slot back", []breaker.Option{consecutive(1), openFor(time.Second)}, []step{
			{call: callFail, want: open},
			{advance: time.Second, call: callCancel, want: halfOpen},
			{call: callOK, want: closed},
		}},
		{"one failed probe of several opens", []breaker.Option{consecutive(1), openFor(time.Second), breaker.WithHalfOpen(3, 2)}, []step{
			{call: callFail, want: open},
			{advance: time.Second, call: acquire, want: halfOpen},
			{call: acquire, want: halfOpen},
			{call: releaseOK, want: halfOpen},
			{call: releaseFail, want: open},
		}},
		{"half-open past its max time opens again", []breaker.Option{consecutive(1), openFor(time.Second), breaker.WithHalfOpenMaxTime(5 * time.Second)}, []step{
			{call: callFail, want: open},
			{advance: time.Second, call: acquire, want: halfOpen},
			{advance: 5*time.Second - 1, want: halfOpen},
			{advance: 1, want: open},
			{call: releaseOK, want: open},                          // the late probe belongs to the old period
			{advance: 2 * time.Second, call: callOK, want: closed}, // open twice as long
		}},
		{"cancelled calls never open", []breaker.Option{consecutive(1)}, []step{
			{call: callCancel, want: closed},
			{call: callCancel, want: closed},
			{call: callFail, want: open},
		}},
		{"failure rate waits for the minimum number of calls", []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithCountWindow(4, 4)}, []step{
			{call: callFail, want: closed},
			{call: callFail, want: closed},
			{call: callFail, want: closed},
			{call: callOK, want: open}, // the minimum reached by a success
		}},
		{"failure rate exactly at the threshold trips", []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithCountWindow(4, 4)}, []step{
			{call: callOK, want: closed},
			{call: callOK, want: closed},
			{call: callFail, want: closed},
			{call: callFail, want: open},
		}},
		{"count window slides: the oldest call leaves", []breaker.Option{breaker.WithFailureRate(0.75), breaker.WithCountWindow(4, 4)}, []step{
			{call: callFail, want: closed},
			{call: callFail, want: closed},
			{call: callOK, want: closed},
			{call: callOK, want: closed},   // F F S S: 50%
			{call: callOK, want: closed},   // F S S S: 25%
			{call: callFail, want: closed}, // S S S F
			{call: callFail, want: closed}, // S S F F
			{call: callFail, want: open},   // S F F F: 75%
		}},
		{"time window forgets calls older than its length", []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithTimeWindow(10*time.Second, 10, 2)}, []step{
			{call: callFail, want: closed},
			{advance: 10 * time.Second, call: callFail, want: closed}, // the first has left
			{advance: 9 * time.Second, call: callFail, want: open},    // 2 of 2 within 10s
		}},
		{"time window keeps a call until its bucket leaves", []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithTimeWindow(10*time.Second, 10, 2)}, []step{
			{call: callOK, want: closed},
			{advance: 10*time.Second - 1, call: callFail, want: open}, // 1 of 2 within the window
		}},
		{"time window drops a bucket on the dot", []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithTimeWindow(10*time.Second, 10, 2)}, []step{
			{call: callOK, want: closed},
			{advance: 10 * time.Second, call: callFail, want: closed}, // the success has left
			{call: callOK, want: open},                                // 1 of 2: the minimum reached by a success
		}},
		{"time window trips when a success reaches the minimum", []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithTimeWindow(10*time.Second, 10, 4)}, []step{
			{call: callFail, want: closed},
			{call: callFail, want: closed},
			{call: callFail, want: closed},
			{call: callOK, want: open}, // 3 of 4
		}},
		{"time window below the rate at its minimum stays closed", []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithTimeWindow(10*time.Second, 10, 4)}, []step{
			{call: callOK, want: closed},
			{call: callOK, want: closed},
			{call: callFail, want: closed},
			{call: callOK, want: closed},   // 1 of 4
			{call: callFail, want: closed}, // 2 of 5
			{call: callFail, want: open},   // 3 of 6: a failure checks
		}},
		{"slow calls trip at their rate, at the threshold exactly", []breaker.Option{breaker.WithSlowCalls(time.Second, 0.5), breaker.WithCountWindow(2, 2)}, []step{
			{call: callOK, takes: time.Second - 1, want: closed},
			{call: callOK, takes: time.Second - 1, want: closed},
			{call: callOK, takes: time.Second, want: open},
		}},
		{"a slow probe counts as failed", []breaker.Option{breaker.WithSlowCalls(time.Second, 1), breaker.WithCountWindow(1, 1), openFor(time.Second)}, []step{
			{call: callOK, takes: time.Second, want: open},
			{advance: time.Second, call: callOK, takes: 2 * time.Second, want: open},
			{advance: 2 * time.Second, call: callOK, want: closed}, // open twice as long
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				runSteps(t, mustNew(t, tt.opts...), tt.steps)
			})
		})
	}
}

// repeat returns n copies of s.
func repeat(s step, n int) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}
