package discovery

import "context"

// EventKind names something a [Resolver] reports to its listeners.
type EventKind int

// The events a Resolver reports, per service.
const (
	// EventUpdated: the resolver serves the set the registry gave;
	// Instances is its size.
	EventUpdated EventKind = iota + 1
	// EventHeld: the resolver holds back a suspect answer of the registry
	// (see PanicPolicy) and serves the last known set, whose size is
	// Instances.
	EventHeld
	// EventWatchFailed: a watch call to the registry failed with Err;
	// Stale tells whether the resolver now serves its last known set
	// (false before it had one).
	EventWatchFailed
	// EventEjected: Instance was ejected as an outlier.
	EventEjected
	// EventEjectionSkipped: Instance failed enough to be ejected, but
	// OutlierPolicy.MaxEjectedPercent of the set already was.
	EventEjectionSkipped
	// EventRetried: the Transport retried a request on another instance
	// than Instance, which failed it.
	EventRetried
	// EventEvicted: the resolver stopped following the service, which no
	// Pick asked for in the idle timeout (see WithIdleTimeout). A listener
	// that keeps state per service drops it here.
	EventEvicted
)

var eventNames = [...]string{
	EventUpdated:         "updated",
	EventHeld:            "held",
	EventWatchFailed:     "watch_failed",
	EventEjected:         "ejected",
	EventEjectionSkipped: "ejection_skipped",
	EventRetried:         "retried",
	EventEvicted:         "evicted",
}

// String returns the event's snake_case name.
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event describes one thing a Resolver did for a service.
type Event struct {
	// Kind is what happened.
	Kind EventKind
	// Service is the service name the event concerns.
	Service string
	// Instances is the size of the set served, for EventUpdated and
	// EventHeld.
	Instances int
	// Stale is true while the resolver serves its last known set instead
	// of the registry's answer: for EventHeld, and for EventWatchFailed
	// once the resolver had a set.
	Stale bool
	// Instance is the ID of the instance concerned, for EventEjected,
	// EventEjectionSkipped and EventRetried.
	Instance string
	// Err is the watch call's error, for EventWatchFailed.
	Err error
}

// Listener observes what a Resolver does, for metrics (package
// discovery/discoverymetrics) or alerts. OnEvent is called synchronously,
// outside the resolver's locks, from the goroutine that caused the event:
// a watch goroutine, a request or the idle sweep, several at once, so it
// must be safe for concurrent use and return quickly. ctx is the context
// of the request whose outcome caused EventEjected, EventEjectionSkipped
// and EventRetried, and a background context otherwise.
type Listener interface {
	OnEvent(ctx context.Context, e Event)
}

// ListenerFunc adapts a function to a [Listener].
type ListenerFunc func(ctx context.Context, e Event)

// OnEvent calls f.
func (f ListenerFunc) OnEvent(ctx context.Context, e Event) { f(ctx, e) }

// emit tells every listener of r about e.
func (r *Resolver) emit(ctx context.Context, e Event) {
	for _, l := range r.listeners {
		l.OnEvent(ctx, e)
	}
}
