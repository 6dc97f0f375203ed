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
// An Aggregate (NewAggregate) is the console of a whole fleet, a
// dashboard and its stream aggregator in one: it finds every instance of
// every service through the discovery registry, reads the console of each
// one that announces it in its metadata (MetaKey), all at once, each
// within a timeout (WithInstanceTimeout) and a bounded number at a time
// (WithParallelFetches), and shows them together: the overview with the
// attention of each service summed, and each view with every instance's
// answer as its own console renders it, in HTML and as JSON under api/.
// An instance that times out, refuses the aggregate or fails is shown
// with why, beside the others, never hiding them. <path>instances/<id>/
// is one instance's own console through the aggregate, for an operator
// who reaches the aggregate only: only instances the registry lists, only
// below their console's path, no redirect followed, answers bounded. Its
// actions are posted through after the aggregate's own authorization,
// cross-origin and read-only checks, and the instance's console still
// confirms and audits them. Each console authorizes the aggregate on its
// own: WithInstanceRequest adds the credentials, and may pass on the
// operator's name for the instance's audit log.
//
// Looking costs nothing until somebody looks: the console reads breaker
// counts, resolver state and outbox backlogs when a page is asked for,
// and the breaker listener it gives (BreakerListener) runs only on state
// changes, never on a call's path.
package console
