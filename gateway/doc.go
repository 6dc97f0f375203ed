// Package gateway is an API gateway built from net/http middleware: the
// API-gateway and API-composition patterns. A typical shop's gateway routes
// /api/users/**, /api/orders/** and /api/products/** to services,
// authenticates some routes, rate-limits 100 requests a minute per user or
// IP, and composes an order-details view from three services. A first
// hand-written gateway does this with a proxy call per route and breaks on
// what production sends it: unclean paths that dodge a route's auth, a slow
// part that stalls the whole composed view, retries that multiply an
// outage. This package handles each of those.
//
// It is a library, not a product. Start at [New]: it takes a list of
// [Route] values (declared in Go, or loaded from a YAML or JSON file with
// package gateway/routefile) and returns a [Gateway], an http.Handler to
// serve with [NewServer] or to mount in an existing server. A route
// proxies to a [Target], or serves a local Handler (a composition, a
// health check) through the same routing and middleware. Handlers read the
// captured path parameters with r.PathValue, as under http.ServeMux.
//
//	users, _ := gateway.StaticTarget("http://users:8080")
//	g, err := gateway.New([]gateway.Route{
//		{Path: "/api/users/**", Target: users, StripPrefix: "/api",
//			Middleware: []gateway.Middleware{auth.Middleware(), limiter}},
//	}, gateway.WithMiddleware(gateway.RequestID(), gateway.AccessLog(nil), gateway.Recover(nil)))
//
// Safe by default, because a gateway is the front door:
//
//   - Paths are cleaned before matching ([CleanPath]): dot segments are
//     resolved, repeated slashes collapsed, and double-encoded, encoded-slash
//     and "..;" tricks rejected with 400, so that a public route cannot lead
//     to a protected one. The most specific [Pattern] wins and a method
//     mismatch answers 405 rather than falling back to a catch-all.
//   - The proxy is httputil.ReverseProxy in Rewrite mode: hop-by-hop headers
//     are dropped, X-Forwarded-* and Forwarded are set, and the client's own
//     forwarding headers are kept only from trusted proxies
//     ([WithTrustedProxies], [ClientIP]).
//   - Before any middleware runs, the gateway strips, under every spelling,
//     the headers an upstream may read as identity ([DefaultSubjectHeader],
//     [WithStripHeaders]), as another method or URL (method overrides,
//     X-Original-URL), and, from clients that are not trusted proxies, as
//     the client's address or forwarding information (X-Real-IP,
//     X-Forwarded-Prefix, ...); and it drops the headers a client names in
//     Connection, which then keeps only close, keep-alive and upgrade.
//   - Protocol upgrades pass only on routes that list the protocol
//     (Route.Upgrades); h2c never does.
//   - A client's broken, oversized, slow or abandoned request body is a
//     [ClientError] answered 400, 408 or 413 (499 in the log when the
//     client left), and never counts against the upstream: breakers,
//     outlier ejection and retries see it as no news. Each route bounds the
//     time to receive a body (Route.BodyReadTimeout).
//   - Upstream failures become JSON errors ([ErrorBody]): 502, 503 (no
//     upstream, breaker open), 504 (timeout); details go to the log only.
//   - A response header the gateway's middleware set (X-Request-Id, CORS)
//     is sent once, with the gateway's value, even when the upstream sends
//     it too.
//   - Retries (Route.Retry, a retry.Policy) happen only for requests that
//     may be sent twice and whose body can be sent again
//     (retry.Idempotent, retry.Replayable), within the route's Timeout and
//     a retry.Budget (Route.RetryBudget).
//
// Resilience: [BreakerSet] gives each upstream its own circuit breaker
// (package breaker); an open one answers 503 at once. Route.Retry and
// Route.RetryBudget retry idempotent requests, each time on an instance the
// Target picks afresh. Targets may be discovered
// services (gateway/discoverytarget), picked per attempt with outlier
// ejection.
//
// Middleware is func(http.Handler) http.Handler ([Middleware]) and composes
// with [Chain]: [RequestID], [AccessLog], [Recover], [BodyLimit],
// [HeaderLimit], [CORS]. Subpackages add what needs a dependency:
// gateway/jwtauth (JWT verification on golang-jwt/jwt/v5 with static keys or
// a JWKS URL), gateway/ratelimit (token buckets per user or client IP on
// golang.org/x/time/rate), gateway/ratelimit/redislimit (a GCRA limiter
// shared by several gateway instances through Redis), gateway/gatewaymetrics
// (Prometheus), gateway/discoverytarget and gateway/routefile. For tracing,
// put tracing.Middleware() last in [WithMiddleware] and wrap [NewTransport]
// in tracing.Transport.
//
// [Compose] fills in a typed view from several backends under one
// deadline: [Fetch] starts each call as a part, in parallel, and
// [Composition.Wait] lets later parts depend on earlier results (the
// order, then its user and products). An optional part that fails marks
// the view partial; [ComposeHandler] serves it, passing a required part's
// 404, 410, 401 or 403 through as that status ([ComposeStatus]).
//
// docs/gateway.md is the guide, with the table of the security tests.
package gateway
