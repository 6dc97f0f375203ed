package platform

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/eventbus/outbox/outboxmetrics"
	"github.com/go-microkit/microkit/tracing"
	"github.com/prometheus/client_golang/prometheus"
)

// A service's events go through the transactional outbox of package
// eventbus/outbox: the service adds them (outbox.Add, or outbox.AddAfter
// for one due later) in the transaction that changes its data, and a
// Relay publishes them once committed. A crash between the two publishes
// them on restart; consumers dedupe with the inbox.

// InjectTrace puts the trace context of ctx in msg's metadata, so that the
// trace continues through the relay and the bus to the consumers.
func InjectTrace(ctx context.Context, msg *eventbus.Message) {
	if msg.Metadata == nil {
		msg.Metadata = map[string]string{}
	}
	tracing.Inject(ctx, msg.Metadata)
}

// publishInTraces publishes each message in the trace of the request that
// made it (its Metadata carries that context since InjectTrace), so one
// trace runs from the gateway through the relay and the bus to consumers.
// A run of messages that carry the same trace context (the events of one
// transaction, or every event when no request was traced) goes in one
// call, whose acknowledgements the bus awaits together, rather than one
// call, and one round trip to the broker, per message.
func publishInTraces(p eventbus.Publisher) eventbus.Publisher {
	return eventbus.DecoratePublisher(p, func(ctx context.Context, msgs ...*eventbus.Message) error {
		fields := tracing.Default().Propagator().Fields()
		same := func(a, b *eventbus.Message) bool {
			for _, f := range fields {
				if a.Metadata[f] != b.Metadata[f] {
					return false
				}
			}
			return true
		}
		for len(msgs) > 0 {
			n := 1
			for n < len(msgs) && same(msgs[0], msgs[n]) {
				n++
			}
			if err := p.Publish(tracing.Extract(ctx, msgs[0].Metadata), msgs[:n]...); err != nil {
				return err
			}
			msgs = msgs[n:]
		}
		return nil
	})
}

// Relay runs an outbox relay in a goroutine that Close stops and waits for.
type Relay struct {
	signal *outbox.Signal
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	timer  *time.Timer // KickAt's, for the earliest time asked; nil when none is pending
	at     time.Time   // when timer fires
	closed bool
}

// StartRelay creates the outbox table of db if needed and starts its
// relay, publishing to pub, reporting to its metrics in reg and to watch
// (a console's listener).
func StartRelay(ctx context.Context, db *DB, pub eventbus.Publisher, log *slog.Logger, reg prometheus.Registerer, watch outbox.Listener) (*Relay, error) {
	if err := outbox.Migrate(ctx, db.SQL(), db.Dialect()); err != nil {
		return nil, fmt.Errorf("platform: outbox: %w", err)
	}
	m, err := outboxmetrics.New(reg)
	if err != nil {
		return nil, fmt.Errorf("platform: outbox metrics: %w", err)
	}
	sig := outbox.NewSignal()
	r, err := outbox.NewRelay(db.SQL(), db.Dialect(), publishInTraces(pub), outbox.WithWaker(sig),
		outbox.WithPollInterval(500*time.Millisecond), outbox.WithLogger(log), outbox.WithListener(m), outbox.WithListener(watch))
	if err != nil {
		return nil, fmt.Errorf("platform: outbox relay: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	rl := &Relay{signal: sig, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rl.done)
		if err := r.Run(rctx); err != nil {
			log.Error("outbox relay stopped", "err", err)
		}
	}()
	return rl, nil
}

// Kick wakes the relay after a commit that added events.
func (r *Relay) Kick() { r.signal.Notify() }

// KickAt wakes the relay at t, after a commit that added events due then
// (outbox.AddAfter, AddAt), or at once if t has passed. Kicking at once
// would cost a round that finds nothing due: a transaction of its own,
// whose only use is to read the due time the caller already knows.
//
// One timer serves every call, set for the earliest time asked: a later
// one needs none of its own, since the round the timer starts reads the
// earliest due time after it and the relay sleeps until then. A time asked
// after the timer fired (while that round may be past its reading) sets
// it again. The events are as durable either way: a relay that never
// hears the kick (this process stopped) publishes them at its next poll.
func (r *Relay) KickAt(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		r.Kick()
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed, r.timer != nil && !t.Before(r.at):
		return
	case r.timer == nil:
		r.timer = time.AfterFunc(d, r.fire)
	default:
		r.timer.Reset(d)
	}
	r.at = t
}

// fire is KickAt's timer: it clears the timer, so that the next KickAt
// sets it again, and wakes the relay.
func (r *Relay) fire() {
	r.mu.Lock()
	r.timer = nil
	r.mu.Unlock()
	r.Kick()
}

// Close stops the relay after its round in progress and waits for it. It is
// idempotent.
func (r *Relay) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.mu.Unlock()
	r.cancel()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("platform: outbox relay: close: %w", ctx.Err())
	}
}
