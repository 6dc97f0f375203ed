package notifications

import "errors"

// Faults is the fault injection of the notification-service, set through
// platform.FaultPath (the gateway's /api/admin/notification-faults). The
// zero value injects nothing.
type Faults struct {
	// Reject makes the handler refuse every event for good: a permanent
	// error, not retried, so that each event is dead-lettered at once and
	// waits in the dead-letter store for an operator to replay it once
	// the fault is cleared.
	Reject bool `json:"reject"`
}

// errRejected is the failure Faults.Reject injects.
var errRejected = errors.New("notifications: event rejected (fault injection)")
