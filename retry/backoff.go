package retry

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Jitter says how [Backoff] randomizes its delays, so that clients that
// failed together do not all retry at the same instant.
type Jitter int

const (
	// FullJitter waits a random time between zero and the exponential
	// delay. It spreads a crowd of clients the most, and is the zero value
	// (AWS Architecture Blog, "Exponential Backoff And Jitter").
	FullJitter Jitter = iota
	// EqualJitter waits half the exponential delay plus a random time up
	// to the other half: never less than half, for loops that must not
	// come back too soon, such as reconnecting to a server that is down.
	EqualJitter
	// NoJitter waits exactly the exponential delay.
	NoJitter
)

// String returns the jitter's name.
func (j Jitter) String() string {
	switch j {
	case FullJitter:
		return "full"
	case EqualJitter:
		return "equal"
	case NoJitter:
		return "none"
	}
	return fmt.Sprintf("Jitter(%d)", int(j))
}

// Backoff is an exponential backoff policy: the delay before the n-th
// retry is Initial × Multiplier^(n-1), capped at Max, randomized by
// Jitter. It is a value with no state: the caller counts its attempts,
// and starts again from 1 after a success. Each field's doc says what its
// zero value means, so Backoff{} is 100ms doubling to 10s with full
// jitter.
type Backoff struct {
	// Initial is the delay before the first retry; zero means 100ms.
	Initial time.Duration
	// Max caps the delay; zero means 10s, or Initial if that is longer.
	Max time.Duration
	// Multiplier grows the delay after each attempt; zero means 2. It
	// must be at least 1.
	Multiplier float64
	// Jitter randomizes each delay; zero means FullJitter.
	Jitter Jitter
}

// Validate reports an invalid policy with an error wrapping
// [ErrInvalidOption]: a negative duration, a Multiplier below 1 (other
// than zero), a Max below Initial, or an unknown Jitter. Options that take
// a Backoff call it; [Backoff.Delay] itself never fails.
func (b Backoff) Validate() error {
	switch {
	case b.Initial < 0 || b.Max < 0:
		return fmt.Errorf("%w: backoff %v..%v has a negative duration", ErrInvalidOption, b.Initial, b.Max)
	case b.Max > 0 && b.Max < b.Initial:
		return fmt.Errorf("%w: backoff max %v below initial %v", ErrInvalidOption, b.Max, b.Initial)
	case math.IsNaN(b.Multiplier) || math.IsInf(b.Multiplier, 0) || b.Multiplier != 0 && b.Multiplier < 1:
		return fmt.Errorf("%w: backoff multiplier %v below 1", ErrInvalidOption, b.Multiplier)
	case b.Jitter < FullJitter || b.Jitter > NoJitter:
		return fmt.Errorf("%w: unknown backoff jitter %v", ErrInvalidOption, b.Jitter)
	}
	return nil
}

// Delay returns how long to wait before retry number attempt, counting
// from 1 for the retry after the first failure; an attempt below 1 counts
// as 1. Fields a [Backoff.Validate] would reject are taken as their zero
// value. It is safe for concurrent use and does not allocate.
func (b Backoff) Delay(attempt int) time.Duration {
	initial, maxDelay, mult := b.Initial, b.Max, b.Multiplier
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	if maxDelay <= 0 {
		maxDelay = max(10*time.Second, initial)
	}
	maxDelay = max(maxDelay, initial)
	if !(mult >= 1) || math.IsInf(mult, 0) { // also NaN
		mult = 2
	}
	d := maxDelay
	if f := float64(initial) * math.Pow(mult, float64(max(attempt, 1)-1)); f < float64(maxDelay) {
		d = time.Duration(f)
	}
	switch b.Jitter {
	case EqualJitter:
		half := d / 2
		return d - half + time.Duration(rand.Int64N(int64(half)+1)) // half < MaxInt64
	case NoJitter:
		return d
	default:
		return time.Duration(rand.Int64N(int64(d))) // d is at least 1ns
	}
}
