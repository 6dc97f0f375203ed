// Package sagabus delivers events of the event bus to waiting sagas: a
// handler for an eventbus.Router that signals a saga.Orchestrator by the
// correlation key it reads from each event.
//
//	h, err := sagabus.Handler(orchestrator, sagabus.JSONKey("paymentId"))
//	...
//	err = router.Handle("payment.*", h)
//
// The handler acknowledges what the orchestrator took or stored, and an
// event for a wait that is over (saga.ErrSagaFinished: a confirmation
// after the saga timed out, or a redelivery after it finished), which it
// logs; it dead-letters an event without a key (retry.Permanent); and it
// returns the orchestrator's other errors, for the router's retries.
// Package saga itself compiles no event bus: this package is the glue.
package sagabus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
)

// ErrInvalidOption wraps every error of an invalid option or argument.
var ErrInvalidOption = errors.New("sagabus: invalid option")

// ErrNoKey is wrapped by the error of an event from which the key
// function reads no key: the handler dead-letters it.
var ErrNoKey = errors.New("sagabus: no correlation key")

// Signaller is what the handler delivers to: a *saga.Orchestrator.
type Signaller interface {
	Signal(ctx context.Context, key, eventType string, payload []byte) error
}

// KeyFunc returns the correlation key an event carries: the key its
// saga's waiting step waits on (saga.Wait.Key).
type KeyFunc func(msg *eventbus.Message) (string, error)

// Option configures [Handler].
type Option func(*config) error

type config struct {
	log *slog.Logger
}

// WithLogger sets the logger of the events for waits that are over,
// logged at Info (default, and for nil: slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			l = slog.Default()
		}
		c.log = l
		return nil
	}
}

// Handler returns an eventbus.Handler that signals s with each event:
// key's key, the event's type and its Data as the payload. It returns an
// error wrapping ErrInvalidOption for a nil s or key, or a bad option.
func Handler(s Signaller, key KeyFunc, opts ...Option) (eventbus.Handler, error) {
	if s == nil || key == nil {
		return nil, fmt.Errorf("%w: nil signaller or key function", ErrInvalidOption)
	}
	c := config{log: slog.Default()}
	for _, opt := range opts {
		if opt == nil {
			continue // a nil Option is no option
		}
		if err := opt(&c); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context, msg *eventbus.Message) error {
		k, err := key(msg)
		if err == nil && k == "" {
			err = ErrNoKey
		}
		if err != nil {
			return retry.Permanent(fmt.Errorf("sagabus: event %s %s: %w", msg.Type, msg.ID, err))
		}
		err = s.Signal(ctx, k, msg.Type, msg.Data)
		switch {
		case errors.Is(err, saga.ErrSagaFinished):
			c.log.InfoContext(ctx, "sagabus: event for a wait that is over, acknowledged", "type", msg.Type, "id", msg.ID, "key", k, "err", err)
			return nil
		case errors.Is(err, saga.ErrInvalidOption):
			return retry.Permanent(err)
		}
		return err
	}, nil
}

// JSONKey returns a KeyFunc that reads the key from the string field
// field of the event's JSON object; an event whose Data is no JSON
// object, or has no such string, has no key (an error wrapping ErrNoKey).
func JSONKey(field string) KeyFunc {
	return func(msg *eventbus.Message) (string, error) {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(msg.Data, &fields); err != nil {
			return "", fmt.Errorf("%w: %w", ErrNoKey, err)
		}
		var key string
		if err := json.Unmarshal(fields[field], &key); err != nil || key == "" {
			return "", fmt.Errorf("%w: no string %q in the event", ErrNoKey, field)
		}
		return key, nil
	}
}
