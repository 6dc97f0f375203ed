package outbox

import (
	"context"
	"time"
)

// EventKind names something a [Relay] reports to its listeners.
type EventKind int

// The events a Relay reports, per outbox table. A round that found nothing
// to publish reports nothing: idle polls would drown what matters.
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
)

var eventNames = [...]string{
	EventRelayed:     "relayed",
	EventRelayFailed: "relay_failed",
	EventPruned:      "pruned",
}

// String returns the event's snake_case name.
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event describes one thing a Relay did for its outbox table.
type Event struct {
	// Kind is what happened.
	Kind EventKind
	// Table is the outbox table the relay serves (see WithTable).
	Table string
	// Events is how many events were published and marked sent, for
	// EventRelayed, or deleted, for EventPruned.
	Events int
	// Duration is how long the round took, for EventRelayed and
	// EventRelayFailed.
	Duration time.Duration
	// Err is the round's error, for EventRelayFailed.
	Err error
}

// Listener observes what a Relay does, for metrics (package
// eventbus/outbox/outboxmetrics) or alerts. OnEvent is called
// synchronously, after the round or prune it reports, from the goroutine
// that ran it: Run's, or that of a caller of RelayOnce or Prune, several
// at once, so it must be safe for concurrent use and return quickly. ctx
// is the context given to Run, RelayOnce or Prune; it may have ended, as
// when a round fails because Run is stopping.
type Listener interface {
	OnEvent(ctx context.Context, e Event)
}

// ListenerFunc adapts a function to a [Listener].
type ListenerFunc func(ctx context.Context, e Event)

// OnEvent calls f.
func (f ListenerFunc) OnEvent(ctx context.Context, e Event) { f(ctx, e) }

// WithListener adds a listener of a relay's events, such as the Prometheus
// metrics of package eventbus/outbox/outboxmetrics. It may be given
// several times; nil adds none.
func WithListener(l Listener) Option {
	return func(c *config) error {
		if l != nil {
			c.listeners = append(c.listeners, l)
		}
		return nil
	}
}

// emit tells every listener of r about e.
func (r *Relay) emit(ctx context.Context, e Event) {
	for _, l := range r.cfg.listeners {
		l.OnEvent(ctx, e)
	}
}
