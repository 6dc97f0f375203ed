package breaker

import (
	"time"
	_ "unsafe" // for go:linkname to runtime.nanotime
)

// Clock tells the breaker the time. Inject one with [WithClock] so that tests
// step through open durations and windows at fixed instants instead of
// sleeping. A Clock must be safe for concurrent use.
type Clock interface {
	Now() time.Time
}

// nanotime is the runtime's monotonic clock. time.Now reads the wall clock
// as well and costs about twice as much; the breaker only needs durations,
// and the success path with a time-based rule reads the clock once per call,
// so the cheaper source matters there. The runtime marks nanotime as
// linkname-accessible because so much code depends on it.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// clock turns the configured time source into nanoseconds since the
// breaker's epoch (monotonic) and back into wall time for errors and events.
type clock struct {
	src       Clock // nil: use nanotime
	epoch     time.Time
	epochMono int64
}

func newClock(src Clock) clock {
	if src != nil {
		return clock{src: src, epoch: src.Now()}
	}
	return clock{epoch: time.Now(), epochMono: nanotime()}
}

// now returns the nanoseconds elapsed since the epoch.
func (c *clock) now() int64 {
	if c.src == nil {
		return nanotime() - c.epochMono
	}
	return c.srcNow()
}

func (c *clock) srcNow() int64 {
	return int64(c.src.Now().Sub(c.epoch))
}

// wall converts nanoseconds since the epoch to a time.Time.
func (c *clock) wall(mono int64) time.Time {
	return c.epoch.Add(time.Duration(mono))
}
