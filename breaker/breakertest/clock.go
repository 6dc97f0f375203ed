package breakertest

import (
	"time"

	"github.com/go-microkit/microkit/internal/testclock"
)

// Clock is a breaker.Clock that moves only when told to. It is safe for
// concurrent use.
type Clock struct {
	c *testclock.Clock
}

// NewClock returns a clock that reads start until moved.
func NewClock(start time.Time) *Clock {
	return &Clock{c: testclock.At(start)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return c.c.Now() }

// Advance moves the clock forward by d (backward if d is negative).
func (c *Clock) Advance(d time.Duration) { c.c.Advance(d) }
