// Package breakertest helps test code that uses package breaker: start
// with [Clock], a manual clock to pass to breaker.WithClock so that a test
// steps through open durations, half-open timeouts and time windows at
// fixed instants instead of sleeping.
package breakertest
