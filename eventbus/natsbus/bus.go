package natsbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bus publishes to and consumes from one JetStream stream. It is an
// eventbus.Publisher and an eventbus.Subscriber, safe for concurrent use.
type Bus struct {
	cfg   config
	nc    *nats.Conn
	js    jetstream.JetStream
	acks  *ackTracker
	owned bool // Close drains and closes nc

	closeDone chan struct{} // closed when the work of Close is done
	closeErr  error         // set before closeDone is closed

	mu       sync.Mutex
	subs     map[*subscription]struct{}
	isClosed bool
}

// Connect connects to the NATS servers at url (comma-separated) with a
// reconnect policy that never gives up, and returns a bus that owns the
// connection: Close drains and closes it. Reconnects are logged.
func Connect(ctx context.Context, url string, opts ...Option) (*Bus, error) {
	cfg, err := configure(opts)
	if err != nil {
		return nil, err
	}
	log := cfg.logger
	natsOpts := append([]nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("natsbus: disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("natsbus: reconnected", "server", nc.ConnectedUrlRedacted())
		}),
	}, cfg.natsOpts...)
	nc, err := nats.Connect(url, natsOpts...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect: %w", err)
	}
	b, err := newBus(ctx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	b.owned = true
	return b, nil
}

// New returns a bus on a connection the caller owns and closes after the
// bus (Close then leaves the connection open). It provisions (or binds to) the stream.
func New(ctx context.Context, nc *nats.Conn, opts ...Option) (*Bus, error) {
	if nc == nil {
		return nil, fmt.Errorf("natsbus: new: %w: nil connection", eventbus.ErrInvalidOption)
	}
	cfg, err := configure(opts)
	if err != nil {
		return nil, err
	}
	return newBus(ctx, nc, cfg)
}

func configure(opts []Option) (config, error) {
	cfg := defaults()
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(&cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

func newBus(ctx context.Context, nc *nats.Conn, cfg config) (*Bus, error) {
	acks := newAckTracker()
	js, err := jetstream.New(nc, acks.options()...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: jetstream: %w", err)
	}
	b := &Bus{cfg: cfg, nc: nc, js: js, acks: acks, closeDone: make(chan struct{}), subs: make(map[*subscription]struct{})}
	if cfg.bind {
		if _, err := js.Stream(ctx, cfg.stream); err != nil {
			return nil, fmt.Errorf("natsbus: bind stream %s: %w", cfg.stream, err)
		}
		return b, nil
	}
	sc := jetstream.StreamConfig{
		Name:       cfg.stream,
		Subjects:   []string{cfg.prefix + ".>"},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     7 * 24 * time.Hour,
		Duplicates: 2 * time.Minute,
	}
	if cfg.streamEdit != nil {
		cfg.streamEdit(&sc)
	}
	if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
		return nil, fmt.Errorf("natsbus: provision stream %s: %w", cfg.stream, err)
	}
	return b, nil
}

// Close closes every subscription (draining it and naking what it fetched
// but did not hand out) and, if the bus owns the connection, drains it
// (publishes in flight are flushed) and closes it. It waits for all of that
// until ctx ends; then it closes the connection at once, without waiting
// for the drain, and returns ctx's error. It is idempotent and safe to call
// concurrently: a second Close waits for the first one's work, bounded by
// its own ctx.
func (b *Bus) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.isClosed {
		b.mu.Unlock()
		select {
		case <-b.closeDone:
			return b.closeErr
		case <-ctx.Done():
			return fmt.Errorf("natsbus: close: %w", ctx.Err())
		}
	}
	b.isClosed = true
	subs := make([]*subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.subs = nil
	b.mu.Unlock()
	go func() {
		b.closeErr = b.close(subs)
		close(b.closeDone)
	}()
	select {
	case <-b.closeDone:
		return b.closeErr
	case <-ctx.Done():
		if b.owned {
			// Give up on the drain: drop the connection now.
			b.nc.Close()
		}
		return fmt.Errorf("natsbus: close: %w", ctx.Err())
	}
}

// close does the work of Close: the subscriptions at once (each waits for
// its drain a few seconds at most), then the owned connection.
func (b *Bus) close(subs []*subscription) error {
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(s.close)
	}
	wg.Wait()
	if !b.owned {
		return nil
	}
	// Drain is asynchronous: wait for the connection to report CLOSED (it
	// does within the drain timeout, 30s by default, even if the server is
	// gone, and at once when Close gives up and closes it).
	closed := b.nc.StatusChanged(nats.CLOSED)
	defer b.nc.RemoveStatusListener(closed)
	if err := b.nc.Drain(); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil
		}
		b.nc.Close()
		return fmt.Errorf("natsbus: close: %w", err)
	}
	if !b.nc.IsClosed() {
		<-closed
	}
	return nil
}

func (b *Bus) isClosedNow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.isClosed
}

func (b *Bus) forget(s *subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, s)
}
