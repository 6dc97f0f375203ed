package redislimit

import "time"

// SetScriptClock makes l's script decide at now() instead of at the Redis
// server's time, so that a test against a real Redis steps through refills
// at exact instants: a synctest bubble cannot fake a server's clock, nor
// wait on network I/O.
func SetScriptClock(l *Limiter, now func() time.Time) { l.scriptNow = now }
