// Package breakergrpc puts a circuit breaker from package breaker in front
// of gRPC client calls, as unary and stream client interceptors.
//
// Start with [UnaryClientInterceptor] and [StreamClientInterceptor], given
// a [Picker]: [Single] for one breaker for the whole connection, or
// [PerMethod] for one per full method name from a [breaker.Set]. By the
// default [Classify], Unavailable, DeadlineExceeded, ResourceExhausted and
// Internal count as failures; caller mistakes such as InvalidArgument and
// NotFound count as successes, since the server answered; Canceled is
// ignored. As in package breaker, a call whose caller cancelled its ctx,
// or whose ctx had already ended when it started, does not count, while a
// deadline that passes in flight (DeadlineExceeded) is a failure. While the breaker is open, calls fail at once with status
// Unavailable whose error also matches breaker.ErrOpen.
package breakergrpc
