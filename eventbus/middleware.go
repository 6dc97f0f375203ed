package eventbus

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

// PanicError is the error Recover returns for a handler that panicked.
type PanicError struct {
	// Value is what the handler panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

// Error describes the panic.
func (e *PanicError) Error() string { return fmt.Sprintf("eventbus: handler panicked: %v", e.Value) }

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Recover turns a handler panic into a *PanicError, so that the message is
// retried and finally dead-lettered instead of crashing the consumer. The
// Router already runs every handler under it; put it in a chain to turn
// panics of the middleware inside it into failed attempts too, or around
// a handler called without a router.
func Recover() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = &PanicError{Value: v, Stack: debug.Stack()}
				}
			}()
			return next(ctx, msg)
		}
	}
}

// Timeout bounds each handler call to d: the handler's context is cancelled
// after d, and a handler that returns the context's error fails the
// attempt. Keep d below the adapter's ack wait. d <= 0 disables it.
func Timeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		if d <= 0 {
			return next
		}
		return func(ctx context.Context, msg *Message) error {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next(ctx, msg)
		}
	}
}

// MetaCorrelationID is the metadata key of the correlation id.
const MetaCorrelationID = "correlation-id"

type correlationKey struct{}

// ContextWithCorrelationID returns a copy of ctx carrying the correlation id.
func ContextWithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationIDFromContext returns the correlation id carried by ctx, or "".
func CorrelationIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

// Correlate puts the message's correlation id (its metadata entry, or its ID
// when it starts a conversation) into the handler's context, so that a
// CorrelatedPublisher stamps it on the events the handler publishes.
func Correlate() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			id := msg.Metadata[MetaCorrelationID]
			if id == "" {
				id = msg.ID
			}
			return next(ContextWithCorrelationID(ctx, id), msg)
		}
	}
}

// PublisherFunc adapts a function to a Publisher whose Close does nothing;
// decorators use it.
type PublisherFunc func(ctx context.Context, msgs ...*Message) error

// Publish calls f.
func (f PublisherFunc) Publish(ctx context.Context, msgs ...*Message) error { return f(ctx, msgs...) }

// Close does nothing.
func (f PublisherFunc) Close(context.Context) error { return nil }

type decorated struct {
	PublisherFunc
	inner Publisher
}

func (d decorated) Close(ctx context.Context) error { return d.inner.Close(ctx) }

// DecoratePublisher returns a Publisher whose Publish is publish and whose
// Close closes inner.
func DecoratePublisher(inner Publisher, publish PublisherFunc) Publisher {
	return decorated{PublisherFunc: publish, inner: inner}
}

// CorrelatedPublisher stamps the correlation id of the context (see
// Correlate) on every published message that has none. It sets the entry
// in the messages' Metadata.
func CorrelatedPublisher(p Publisher) Publisher {
	return DecoratePublisher(p, func(ctx context.Context, msgs ...*Message) error {
		if id := CorrelationIDFromContext(ctx); id != "" {
			for _, m := range msgs {
				if m != nil && m.Metadata[MetaCorrelationID] == "" {
					m.SetMetadata(MetaCorrelationID, id)
				}
			}
		}
		return p.Publish(ctx, msgs...)
	})
}
