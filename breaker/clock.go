package breaker

import "time"

// clock keeps the breaker's time as nanoseconds since its epoch, the moment
// it was made, so that periods and windows store plain int64s that atomics
// can hold. It reads time through the time package: time.Since on an epoch
// with a monotonic reading costs about as much as the runtime's monotonic
// clock alone, and it follows the fake clock of a testing/synctest bubble,
// so that tests step through open durations and windows with time.Sleep.
type clock struct {
	epoch time.Time
}

func newClock() clock {
	return clock{epoch: time.Now()}
}

// now returns the nanoseconds elapsed since the epoch.
func (c *clock) now() int64 {
	return int64(time.Since(c.epoch))
}

// wall converts nanoseconds since the epoch to a time.Time.
func (c *clock) wall(mono int64) time.Time {
	return c.epoch.Add(time.Duration(mono))
}
