package gateway

import "time"

// Clock tells the time; tests inject a fake one so that times are
// deterministic.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the real wall clock, the default everywhere.
var SystemClock Clock = systemClock{}
