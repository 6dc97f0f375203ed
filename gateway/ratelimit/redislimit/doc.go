// Package redislimit is the distributed rate limiter of the gateway: one
// budget per key shared by every gateway instance through Redis, with the
// GCRA (generic cell rate algorithm) run atomically as one Lua script.
//
// Start at [New] with a go-redis client and a ratelimit.Rate, and hand the
// [Limiter] to ratelimit.Middleware. When Redis is down or slow, the
// limiter decides with a local ratelimit.Local instead, and tries Redis
// again after a cool-down: the gateway keeps limiting, per instance, rather
// than failing or letting everything through.
package redislimit
