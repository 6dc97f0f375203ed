package orders

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/eventbus/outbox/outboxmetrics"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/tracing"
	"github.com/prometheus/client_golang/prometheus"
)

// The order-service's events go through the transactional outbox of package
// eventbus/outbox: store.go adds them (outbox.Add) in the transaction that
// changes the order, and the relay below publishes them once committed. A
// crash between the two publishes them on restart; the notification-service
// dedupes with the inbox.

func injectTrace(ctx context.Context, msg *eventbus.Message) {
	if msg.Metadata == nil {
		msg.Metadata = map[string]string{}
	}
	tracing.Inject(ctx, msg.Metadata)
}

// perMessageTrace publishes each message in the trace of the request that
// made it (its Metadata carries that context since injectTrace), so one
// trace runs from the gateway through the relay and the bus to consumers.
func perMessageTrace(p eventbus.Publisher) eventbus.Publisher {
	return eventbus.DecoratePublisher(p, func(ctx context.Context, msgs ...*eventbus.Message) error {
		for _, m := range msgs {
			if err := p.Publish(tracing.Extract(ctx, m.Metadata), m); err != nil {
				return err
			}
		}
		return nil
	})
}

// relay runs an outbox relay in a goroutine that Close stops and waits for.
type relay struct {
	signal *outbox.Signal
	cancel context.CancelFunc
	done   chan struct{}
}

// startRelay starts the relay of the order-service's outbox, reporting to
// its metrics in reg and to watch (the console's listener).
func startRelay(db *platform.DB, pub eventbus.Publisher, log *slog.Logger, reg prometheus.Registerer, watch outbox.Listener) (*relay, error) {
	m, err := outboxmetrics.New(reg)
	if err != nil {
		return nil, fmt.Errorf("orders: outbox metrics: %w", err)
	}
	sig := outbox.NewSignal()
	r, err := outbox.NewRelay(db.SQL(), db.Dialect(), perMessageTrace(pub), outbox.WithWaker(sig),
		outbox.WithPollInterval(500*time.Millisecond), outbox.WithLogger(log), outbox.WithListener(m), outbox.WithListener(watch))
	if err != nil {
		return nil, fmt.Errorf("orders: outbox relay: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rl := &relay{signal: sig, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rl.done)
		if err := r.Run(ctx); err != nil {
			log.Error("outbox relay stopped", "err", err)
		}
	}()
	return rl, nil
}

// Kick wakes the relay after a commit that added events.
func (r *relay) Kick() { r.signal.Notify() }

// Close stops the relay after its round in progress and waits for it. It is
// idempotent.
func (r *relay) Close(ctx context.Context) error {
	r.cancel()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("orders: outbox relay: close: %w", ctx.Err())
	}
}
