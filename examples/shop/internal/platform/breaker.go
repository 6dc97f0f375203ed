package platform

import (
	"fmt"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

// The shop's breaker policy. A breaker exists to stop hammering an
// upstream that is down for a while; it must not turn a short fault into a
// long outage. So a breaker trips on a failure rate over a short window,
// never on a handful of failures, opens for about a second at first (a
// restarted process or a failed-over database is back by then), and only a
// breaker that trips again straight after its probes opens for longer,
// doubling up to breakerMaxOpen. These are the breaker package's defaults,
// except for a time window rather than the last 100 calls (an instance sees
// bursts and lulls, and calls from before a lull must not decide after it),
// a lower minimum of calls, three probes and jitter.
const (
	breakerWindow      = 10 * time.Second               // the rate rule looks at the calls of the last 10 s
	breakerBuckets     = 10                             // sliding by 1 s
	breakerMinCalls    = 10                             // fewer calls than this decide nothing
	breakerFailureRate = breaker.DefaultFailureRate     // half of them failed: trip
	breakerFirstOpen   = breaker.DefaultOpenDuration    // the first open interval, 1 s
	breakerMaxOpen     = breaker.DefaultMaxOpenDuration // the longest, after repeated trips
	breakerJitter      = 0.2                            // so that instances do not probe in step
	breakerProbes      = 3                              // probes let through when half-open
	breakerSuccesses   = 2                              // of which must succeed to close
)

// BreakerOptions returns the shop's breaker policy (see the constants
// above), with firstOpen as the first open interval (zero means one second)
// and [ClassifyCall] deciding what counts, followed by extra.
func BreakerOptions(firstOpen time.Duration, extra ...breaker.Option) []breaker.Option {
	if firstOpen <= 0 {
		firstOpen = breakerFirstOpen
	}
	return append([]breaker.Option{
		breaker.WithFailureRate(breakerFailureRate),
		breaker.WithTimeWindow(breakerWindow, breakerBuckets, breakerMinCalls),
		breaker.WithOpenDuration(firstOpen),
		breaker.WithOpenBackoff(breaker.DefaultOpenMultiplier, max(breakerMaxOpen, firstOpen), breakerJitter),
		breaker.WithHalfOpen(breakerProbes, breakerSuccesses),
		breaker.WithClassifier(ClassifyCall),
	}, extra...)
}

// NewBreaker returns a breaker named name on the shop's policy; see
// [BreakerOptions].
func NewBreaker(name string, firstOpen time.Duration, extra ...breaker.Option) (*breaker.Breaker, error) {
	b, err := breaker.New(name, BreakerOptions(firstOpen, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("platform: breaker %s: %w", name, err)
	}
	return b, nil
}

// ClassifyCall is the shop's breaker classifier for HTTP calls. Only what
// shows the upstream unhealthy counts as a failure: a transport error, a
// 5xx answer, the upstream too slow for the time the call was given. A 4xx
// answer is a success: the upstream answered, it refused this request.
// What proves nothing about the upstream is ignored, by
// breaker.DefaultClassifier and the breaker itself: no instance to call yet
// (discovery.ErrNoInstances, a breaker.ErrNotSent), a call its caller
// cancelled, and one whose caller's deadline had passed before it started.
func ClassifyCall(err error) breaker.Outcome {
	if st := StatusOf(err); st >= 400 && st < 500 {
		return breaker.Success
	}
	return breaker.DefaultClassifier(err)
}
