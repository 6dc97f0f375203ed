// Package testclock is the manual clock that microkit's tests inject through
// each package's clock option (breaker.WithClock via breakertest.Clock,
// gateway.WithClock, ratelimit.WithClock), so that leases, windows, TTLs and budgets
// are tested at fixed instants instead of with sleeps. Start with [New].
package testclock
