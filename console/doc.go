// Package console is an operator's view of a service's building blocks,
// served by the service itself next to its /metrics: which breakers are
// open and since when, what the discovery resolver serves and ejects, how
// far behind each outbox relay is, and, where they are registered, the
// sagas and dead letters that need a person.
//
// Nothing is global: a Console shows what its owner registers
// (AddBreakers, AddBreakerSet, AddResolver, AddOutbox, ...), and each
// view is both an HTML page, readable without JavaScript, and a JSON
// document under api/, so that scripts and the aggregated view read the
// same data.
//
// A Console never answers without the Authorize function its owner gives
// New: there is no open default. Actions (resetting a breaker, replaying a
// dead letter, ...) are POST only, refused to cross-origin browser
// requests, confirmed on a page of their own before they run, audited
// through log/slog with the operator's name, and refused altogether in
// read-only mode (WithReadOnly, or an Operator marked ReadOnly).
//
// Looking costs nothing until somebody looks: the console reads breaker
// counts, resolver state and outbox backlogs when a page is asked for,
// and the breaker listener it gives (BreakerListener) runs only on state
// changes, never on a call's path.
package console
