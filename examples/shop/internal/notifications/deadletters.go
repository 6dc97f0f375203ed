package notifications

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/dlq"
	"github.com/go-microkit/microkit/retry"
)

// parkRetry paces the parking of a dead letter the store could not write
// (its database down or restarting): retried for up to a day after its
// event, since a dead letter dropped here is an event lost for good.
var parkRetry = retry.Policy{MaxAttempts: -1, MaxElapsed: 24 * time.Hour,
	Backoff: retry.Backoff{Initial: 100 * time.Millisecond, Max: 10 * time.Second}}

// collectDeadLetters makes the dead-letter store in the service's own
// database and starts the consumer group group that parks every dead
// letter of the bus in it ("deadletter.>"); the console lists them there
// and replays them through the service's publisher. The router is closed
// with the service.
func (s *Service) collectDeadLetters(ctx context.Context, group string, mw ...eventbus.Middleware) (*dlq.Store, error) {
	db := s.base.DB
	store, err := dlq.New(db.SQL(), db.Dialect())
	if err != nil {
		return nil, fmt.Errorf("notifications: dead letters: %w", err)
	}
	if err := store.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("notifications: dead letters: %w", err)
	}
	r, err := eventbus.NewRouter(s.cfg.Subscriber, group, eventbus.WithLogger(s.deps.Logger),
		eventbus.WithMiddleware(slices.Concat(mw, []eventbus.Middleware{eventbus.Retry(parkRetry)})...))
	if err != nil {
		return nil, fmt.Errorf("notifications: dead-letter router: %w", err)
	}
	if err := r.Handle(eventbus.DeadLetterPrefix+">", store.Handler()); err != nil {
		return nil, fmt.Errorf("notifications: dead-letter router: %w", err)
	}
	if err := s.deps.WaitFor(ctx, "the consumers of "+group, r.Start); err != nil {
		return nil, fmt.Errorf("notifications: start the dead-letter consumers: %w", err)
	}
	s.base.Stack.Push(r.Close)
	return store, nil
}
