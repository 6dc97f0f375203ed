// Package ratelimit is the rate-limiting middleware of the gateway: a token
// bucket per key, for rules such as "100 requests a minute per user or IP".
//
// Start at [Middleware] with a [Limiter]: [NewLocal] keeps the buckets in
// process on golang.org/x/time/rate with bounded memory; package
// gateway/ratelimit/redislimit shares one budget among several gateway
// instances through Redis (GCRA) and falls back to a Local limiter when
// Redis is down. Requests are keyed by [BySubjectOrClientIP]: the user id
// that gateway/jwtauth verified, else the client address, which comes from
// X-Forwarded-For only through trusted proxies ([gateway.ClientIP]), so a
// client cannot dodge its limit by sending that header.
//
// [FailureLimit] limits failed authentications per client address: put it
// in front of gateway/jwtauth, so that a flood of bad tokens gets 429 while
// valid tokens never spend that budget.
//
// Answers carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset; a
// denied request gets 429 with Retry-After. The limiters read time.Now, so
// tests step through refills in a testing/synctest bubble;
// [Local.AllowAt] takes the instant as an argument instead.
package ratelimit
