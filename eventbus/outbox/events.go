package outbox

import (
	"context"
	"time"
)

// EventKind names something a [Relay] or an [Inbox] reports to its
// listeners.
type EventKind int

// The events a Relay reports, per outbox table, and an Inbox with
// WithGroupCommit, per inbox table. A round that found nothing to publish
// reports nothing: idle polls would drown what matters.
const (
	// EventRelayed: a round published Events events and marked them sent,
	// in Duration.
	EventRelayed EventKind = iota + 1
	// EventRelayFailed: a round failed with Err (the database, the
	// publish, or a publish that outlasted WithPublishTimeout) after
	// Duration. Its events stay unsent and a later round retries them.
	EventRelayFailed
	// EventPruned: Prune deleted Events sent events.
	EventPruned
	// EventInboxBatch: an Inbox with WithGroupCommit ran a batch of Events
	// deliveries (processed, duplicates and failed alike) in one
	// transaction, in Duration. FellBack: the batch was rolled back and
	// its deliveries processed again one transaction each, within
	// Duration. Err is the error of its begin (which failed every
	// delivery), mark statement or commit (after which it fell back), or
	// nil; a handler's error is its delivery's alone.
	EventInboxBatch
)

var eventNames = [...]string{
	EventRelayed:     "relayed",
	EventRelayFailed: "relay_failed",
	EventPruned:      "pruned",
	EventInboxBatch:  "inbox_batch",
}

// String returns the event's snake_case name.
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event describes one thing a Relay did for its outbox table, or an Inbox
// for its inbox table.
type Event struct {
	// Kind is what happened.
	Kind EventKind
	// Table is the outbox table the relay serves (see WithTable), or the
	// inbox's table (see WithInboxTable) for EventInboxBatch.
	Table string
	// Events is how many events were published and marked sent, for
	// EventRelayed, or deleted, for EventPruned; how many deliveries the
	// batch held, for EventInboxBatch.
	Events int
	// Duration is how long the round took, for EventRelayed and
	// EventRelayFailed, or the batch, for EventInboxBatch.
	Duration time.Duration
	// Err is the round's error, for EventRelayFailed, or the batch's, for
	// EventInboxBatch.
	Err error
	// FellBack reports, for EventInboxBatch, that the batch was rolled
	// back (a handler failed, or its mark statement or commit did) and its
	// deliveries were processed again with a transaction each.
	FellBack bool
}

// Listener observes what a Relay or an Inbox does, for metrics (package
// eventbus/outbox/outboxmetrics) or alerts. OnEvent is called
// synchronously, after the round, prune or batch it reports, from the
// goroutine that ran it: Run's, that of a caller of RelayOnce or Prune, or
// the Process caller that led the batch, several at once, so it must be
// safe for concurrent use and return quickly. ctx is the context given to
// Run, RelayOnce or Prune; it may have ended, as when a round fails
// because Run is stopping. For a batch it is the leading caller's context
// without its cancellation.
type Listener interface {
	OnEvent(ctx context.Context, e Event)
}

// ListenerFunc adapts a function to a [Listener].
type ListenerFunc func(ctx context.Context, e Event)

// OnEvent calls f.
func (f ListenerFunc) OnEvent(ctx context.Context, e Event) { f(ctx, e) }

// WithListener adds a listener of a relay's events, or of an inbox's
// batches, such as the Prometheus metrics of package
// eventbus/outbox/outboxmetrics. It may be given several times; nil adds
// none.
func WithListener(l Listener) Option {
	return func(c *config) error {
		if l != nil {
			c.listeners = append(c.listeners, l)
		}
		return nil
	}
}

// emit tells every listener of r about e.
func (r *Relay) emit(ctx context.Context, e Event) { emit(ctx, r.cfg.listeners, e) }

// emit tells every listener in ls about e.
func emit(ctx context.Context, ls []Listener, e Event) {
	for _, l := range ls {
		l.OnEvent(ctx, e)
	}
}
