package eventbus

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrClosed is returned by a Publisher, Subscriber, Subscription or Router
	// used after Close.
	ErrClosed = errors.New("eventbus: closed")
	// ErrInvalidOption is wrapped by the error of a constructor given an
	// invalid option.
	ErrInvalidOption = errors.New("eventbus: invalid option")
	// ErrInvalidMessage is wrapped by the error of Publish when a message
	// lacks an ID or has an invalid type, and by decoding errors of the wire
	// format.
	ErrInvalidMessage = errors.New("eventbus: invalid message")
	// ErrInvalidPattern is wrapped by the error of Subscribe and Handle when
	// a pattern is malformed.
	ErrInvalidPattern = errors.New("eventbus: invalid pattern")
	// ErrUnsupportedContentType is wrapped by the error of Decode when the
	// message's DataContentType is not JSON.
	ErrUnsupportedContentType = errors.New("eventbus: unsupported content type")
	// ErrStaleDelivery is returned by Ack, Nack or Term on a delivery that was
	// already settled or handed back to the broker.
	ErrStaleDelivery = errors.New("eventbus: stale delivery")
)

// RetryError asks the router to have the message redelivered after Delay.
// The [Retry] middleware returns it; a handler may return one directly to
// choose its own delay.
type RetryError struct {
	Err   error
	Delay time.Duration
}

// Error describes the failure and the delay.
func (e *RetryError) Error() string {
	return fmt.Sprintf("%v (retry in %s)", e.Err, e.Delay)
}

// Unwrap returns the wrapped error.
func (e *RetryError) Unwrap() error { return e.Err }
