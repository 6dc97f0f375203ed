// Package jwtauth is the authentication middleware of the gateway: it
// verifies bearer JWTs (RFC 7519) on github.com/golang-jwt/jwt/v5 and hands
// the verified subject to upstreams in a header a client cannot forge.
//
// Start at [New] with a [KeySource]: [StaticKeys] for keys you hold, or
// [NewJWKS] for an identity provider's JWKS URL, cached and refetched when
// a token names an unknown kid (a key rotation), at most once per refresh
// interval. Then put [Authenticator.Middleware] in a route's middleware.
//
// The defaults are the safe ones:
//
//   - Only HS256, RS256, ES256 and EdDSA exist; "none" never verifies.
//   - Each [Key] is bound to one algorithm, and a token is checked with a
//     key only when its header names that algorithm: an HS256 token
//     "signed" with an RSA public key is rejected (algorithm confusion).
//   - "exp" is required; "nbf" and "iat" are checked; issuer and audience
//     when configured ([WithIssuer], [WithAudience]); [WithLeeway] allows
//     for clock skew.
//   - The subject header ([gateway.DefaultSubjectHeader] by default) is
//     deleted from the client's request before anything else; the gateway
//     itself deletes it on every route too.
//   - Tokens that verified are cached ([WithCache]: 10 000 for at most a
//     minute by default) keyed by the whole token, signature included; time
//     claims are checked again on every hit.
//   - Failures answer 401 with WWW-Authenticate: Bearer and a generic
//     reason.
//
// Time claims, the cache and the JWKS intervals read time.Now. A test runs
// in a testing/synctest bubble: its clock starts at 2000-01-01 UTC, so a
// test whose tokens are issued for another instant first sleeps to it
// (time.Sleep(time.Until(at)) returns at once), and later sleeps step
// through expiries and refresh intervals.
package jwtauth
