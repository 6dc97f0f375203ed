package breaker

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Option configures a Breaker. Options that can be invalid make New return
// an error wrapping [ErrInvalidOption].
type Option func(*config) error

// Defaults used when no option says otherwise. Without a trip rule a
// breaker trips when DefaultFailureRate of the last DefaultWindowSize calls
// failed, once at least DefaultMinCalls were made; it opens for
// DefaultOpenDuration at first, doubling on each trip that follows its
// probes, up to DefaultMaxOpenDuration. A fault that ends within a second
// costs about a second of refused calls, and only a dependency that stays
// down is probed less and less often.
const (
	DefaultFailureRate     = 0.5
	DefaultWindowSize      = 100
	DefaultMinCalls        = 20
	DefaultOpenDuration    = time.Second
	DefaultOpenMultiplier  = 2
	DefaultMaxOpenDuration = 30 * time.Second
	DefaultHalfOpenMaxTime = time.Minute
)

type windowKind uint8

const (
	noWindow windowKind = iota
	countWindowKind
	timeWindowKind
)

type config struct {
	consecutive   int
	failureRate   float64
	slowThreshold time.Duration
	slowRate      float64
	window        windowKind
	windowSize    int
	windowLength  time.Duration
	buckets       int
	minCalls      int
	openDuration  time.Duration
	openMax       time.Duration
	multiplier    float64
	jitter        float64
	maxProbes     int
	toClose       int
	halfOpenMax   time.Duration
	classifier    Classifier
	random        func() float64
	listeners     []Listener
	observer      func(name string) Observer
	consecutiveOn bool // set explicitly, even to 0
}

func defaultConfig() config {
	return config{
		openDuration: DefaultOpenDuration,
		multiplier:   DefaultOpenMultiplier,
		maxProbes:    1,
		toClose:      1,
		halfOpenMax:  DefaultHalfOpenMaxTime,
		classifier:   DefaultClassifier,
		random:       rand.Float64,
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
}

// WithConsecutiveFailures trips the breaker after n failures in a row. Zero
// turns the rule off. Given alone, it replaces the default failure-rate
// rule. Use it for low-traffic dependencies, where rates over a window
// mean little, and for outlier ejection of one instance; on a busy
// dependency a handful of failures in a row is a blip, not an outage.
func WithConsecutiveFailures(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return invalid("consecutive failures %d < 0", n)
		}
		c.consecutive, c.consecutiveOn = n, true
		return nil
	}
}

// WithFailureRate trips the breaker when the share of failures among the
// calls in the sliding window reaches rate (0 < rate <= 1), once the window
// holds at least its minimum number of calls. Without a window option it
// uses a count window of [DefaultWindowSize] calls with [DefaultMinCalls].
// When no trip rule is given at all, the breaker uses this rule with
// [DefaultFailureRate]. Use it for busy dependencies, where a few
// scattered failures are normal.
func WithFailureRate(rate float64) Option {
	return func(c *config) error {
		if !(rate > 0 && rate <= 1) {
			return invalid("failure rate %v not in (0, 1]", rate)
		}
		c.failureRate = rate
		return nil
	}
}

// WithSlowCalls counts a call that takes threshold or longer as slow, and
// trips the breaker when the share of slow calls in the window reaches rate
// (0 < rate <= 1), whether they succeed or not. A slow half-open probe
// counts as failed. Use it when a dependency degrades by getting slow
// before it fails: it sheds load before callers' timeouts pile up.
func WithSlowCalls(threshold time.Duration, rate float64) Option {
	return func(c *config) error {
		if threshold <= 0 {
			return invalid("slow-call threshold %v <= 0", threshold)
		}
		if !(rate > 0 && rate <= 1) {
			return invalid("slow-call rate %v not in (0, 1]", rate)
		}
		c.slowThreshold, c.slowRate = threshold, rate
		return nil
	}
}

// WithCountWindow makes the rate rules look at the last size calls, and
// only once at least minCalls (1 <= minCalls <= size) have been recorded
// since the breaker closed. Use it when traffic is steady: its cost does
// not depend on time, and it reads no clock.
func WithCountWindow(size, minCalls int) Option {
	return func(c *config) error {
		if size < 1 || size > 1<<24 {
			return invalid("count window size %d not in [1, 2^24]", size)
		}
		if minCalls < 1 || minCalls > size {
			return invalid("min calls %d not in [1, %d]", minCalls, size)
		}
		c.window, c.windowSize, c.minCalls = countWindowKind, size, minCalls
		return nil
	}
}

// WithTimeWindow makes the rate rules look at the calls of the last length
// of time, kept in buckets slices (so the window slides by length/buckets),
// once at least minCalls are in it. Use it when traffic varies, so that a
// burst of old calls does not decide today's state; it reads the clock once
// per call.
func WithTimeWindow(length time.Duration, buckets, minCalls int) Option {
	return func(c *config) error {
		if buckets < 1 || buckets > 1024 {
			return invalid("time window buckets %d not in [1, 1024]", buckets)
		}
		if length < time.Duration(buckets) {
			return invalid("time window %v too short for %d buckets", length, buckets)
		}
		if minCalls < 1 {
			return invalid("min calls %d < 1", minCalls)
		}
		c.window, c.windowLength, c.buckets, c.minCalls = timeWindowKind, length, buckets, minCalls
		return nil
	}
}

// WithOpenDuration sets how long the breaker stays open before it lets
// probes through the first time (default [DefaultOpenDuration]): the base
// of the open backoff (see [WithOpenBackoff]). Without WithOpenBackoff it
// doubles on each trip that follows its probes, up to the larger of d and
// [DefaultMaxOpenDuration].
func WithOpenDuration(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("open duration %v <= 0", d)
		}
		c.openDuration = d
		return nil
	}
}

// WithOpenBackoff makes the open duration grow by multiplier (>= 1) on each
// consecutive re-open without a healthy close in between, up to max, and
// shortens each one by a random share of up to jitter (0 <= jitter < 1) so
// that many clients do not probe in step. A close from half-open resets it
// to the base duration. The default is multiplier [DefaultOpenMultiplier]
// up to [DefaultMaxOpenDuration] without jitter; WithOpenBackoff(1, d, 0)
// with WithOpenDuration(d) keeps the breaker open a fixed d. Set a jitter
// when a fleet of clients shares a dependency. It is not a retry policy
// (retry.Policy): it sets how long every caller is refused, not how long
// one caller waits before trying again.
func WithOpenBackoff(multiplier float64, max time.Duration, jitter float64) Option {
	return func(c *config) error {
		if !(multiplier >= 1) {
			return invalid("open backoff multiplier %v < 1", multiplier)
		}
		if max <= 0 {
			return invalid("open backoff max %v <= 0", max)
		}
		if !(jitter >= 0 && jitter < 1) {
			return invalid("open backoff jitter %v not in [0, 1)", jitter)
		}
		c.multiplier, c.openMax, c.jitter = multiplier, max, jitter
		return nil
	}
}

// WithHalfOpen sets how many probe calls the breaker lets through in total
// in one half-open period (maxProbes, default 1), and how many of them must
// succeed to close it (successes, 1 <= successes <= maxProbes, default 1).
// A probe that ends ignored (cancelled by its caller, or an excluded error)
// gives its slot back; one failed probe opens the breaker again.
func WithHalfOpen(maxProbes, successes int) Option {
	return func(c *config) error {
		if maxProbes < 1 {
			return invalid("half-open probes %d < 1", maxProbes)
		}
		if successes < 1 || successes > maxProbes {
			return invalid("half-open successes %d not in [1, %d]", successes, maxProbes)
		}
		c.maxProbes, c.toClose = maxProbes, successes
		return nil
	}
}

// WithHalfOpenMaxTime bounds how long the breaker may stay half-open
// (default [DefaultHalfOpenMaxTime]); when it runs out before the probes
// decide, the breaker opens again. It guards against probes that never
// report back.
func WithHalfOpenMaxTime(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("half-open max time %v <= 0", d)
		}
		c.halfOpenMax = d
		return nil
	}
}

// WithClassifier decides which errors count as failures (default, and
// what nil means: [DefaultClassifier]). Whatever it says, Execute, Do and Permit.Done never
// count a call whose own context ended first (cancelled, or past the
// caller's deadline): the caller gave up, which says nothing about the
// dependency.
func WithClassifier(cl Classifier) Option {
	return func(c *config) error {
		if cl == nil {
			cl = DefaultClassifier
		}
		c.classifier = cl
		return nil
	}
}

// WithJitterSource replaces the random source of the open-duration jitter
// (default, and what nil means: math/rand/v2.Float64); it must return values in [0, 1) and be
// safe for concurrent use. Tests use it to make jitter deterministic.
func WithJitterSource(random func() float64) Option {
	return func(c *config) error {
		if random == nil {
			random = rand.Float64
		}
		c.random = random
		return nil
	}
}

// WithListener adds a listener for state changes; listeners run in the
// order they were added, outside any lock. A nil l adds none.
func WithListener(l Listener) Option {
	return func(c *config) error {
		if l == nil {
			return nil
		}
		c.listeners = append(c.listeners, l)
		return nil
	}
}

// WithObserver sets a factory that gives the breaker named name its
// [Observer] (see package breakermetrics); a [Set] calls it once per key.
// The default, and what nil means, is no observer.
func WithObserver(factory func(name string) Observer) Option {
	return func(c *config) error {
		c.observer = factory
		return nil
	}
}

func newConfig(opts []Option) (config, error) {
	c := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(&c); err != nil {
			return c, err
		}
	}
	return c, c.finish()
}

func (c *config) finish() error {
	if !c.consecutiveOn && c.failureRate == 0 && c.slowThreshold == 0 {
		c.failureRate = DefaultFailureRate
	}
	if c.failureRate > 0 || c.slowThreshold > 0 {
		if c.window == noWindow {
			c.window, c.windowSize, c.minCalls = countWindowKind, DefaultWindowSize, DefaultMinCalls
		}
	} else if c.window != noWindow {
		return invalid("a window needs WithFailureRate or WithSlowCalls")
	}
	if c.openMax == 0 { // no WithOpenBackoff: the default backoff
		c.openMax = max(DefaultMaxOpenDuration, c.openDuration)
	}
	if c.openMax < c.openDuration {
		return invalid("open backoff max %v < open duration %v", c.openMax, c.openDuration)
	}
	return nil
}
