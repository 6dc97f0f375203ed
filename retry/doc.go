// Package retry is the toolkit's one vocabulary for retrying: when a retry
// may happen, how many may happen, how long to wait, and when never to
// retry, so that a caller learns one rule and it holds everywhere. Every
// package of the module that retries honours [Permanent] (eventbus's Retry
// middleware, saga's steps); discovery's HTTP transport and the gateway's
// routes share [Budget] and the HTTP rule of [Idempotent]; discovery's
// watch loops (and discovery/consul's watcher), rabbitbus, natsbus and the
// outbox relay pace their retries with [Backoff]. It imports only the standard library.
//
// # Where to start
//
//   - [Budget] caps retries at a share of requests plus a small floor
//     ([BudgetPolicy]; Finagle's defaults), so that retries cannot bury a
//     sick service (the retry storm). Call [Budget.Deposit] per request
//     and [Budget.Withdraw] before each retry. Share one per downstream
//     service.
//   - [Permanent] marks an error that retrying cannot fix, and
//     [IsPermanent] finds the mark through any wrapping: eventbus
//     dead-letters such a message at once, saga stops retrying such a
//     step.
//   - [Idempotent] says whether an HTTP request may be sent twice (RFC 9110
//     idempotent methods, or an Idempotency-Key header), and [Replayable]
//     whether its body can be.
//   - [Backoff] is an exponential backoff policy with full or equal jitter;
//     [Backoff.Delay] gives the wait before a numbered retry.
//   - [Policy] says how often and for how long an operation is retried:
//     MaxAttempts, MaxElapsed and a Backoff; [Policy.Next] answers, after
//     each failure, whether to go on and how long to wait. eventbus's
//     Retry middleware, saga's steps and compensations and the gateway's
//     routes take one.
//
// Time comes from package time; tests of code that uses a Budget or a
// Backoff run in a testing/synctest bubble.
package retry
