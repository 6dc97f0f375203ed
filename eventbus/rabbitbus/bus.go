package rabbitbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Bus publishes to and consumes from one RabbitMQ topic exchange over one
// connection that it re-establishes whenever it is lost. It is an
// eventbus.Publisher and an eventbus.Subscriber, safe for concurrent use.
type Bus struct {
	cfg  config
	url  string
	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	closeDone chan struct{} // closed when the work of Close is done
	closeErr  error         // set before closeDone is closed

	mu       sync.Mutex
	conn     *amqp.Connection // nil while disconnected
	lost     chan struct{}    // closed when conn is lost
	ready    chan struct{}    // closed when conn is set; replaced on loss
	pub      *amqp.Channel    // confirm-mode publish channel on conn, opened lazily
	subs     map[*subscription]struct{}
	isClosed bool

	// retryQueues holds, by group queue, the retry queues this bus
	// declared, for DeleteQueue.
	retryQueues map[string]map[string]struct{}
}

// Connect connects to the broker at url (amqp://user:pass@host:port/vhost),
// declares the exchange, the dead-letter exchange and its queue, and
// returns a bus that keeps the connection up until Close. While the broker
// refuses connections (it is starting or restarting) Connect retries with the
// reconnect backoff; it fails with the last error when ctx ends, and at once
// for a URL it cannot parse or credentials the broker rejects.
func Connect(ctx context.Context, url string, opts ...Option) (*Bus, error) {
	cfg, err := configure(opts)
	if err != nil {
		return nil, err
	}
	b := &Bus{cfg: cfg, url: url, done: make(chan struct{}), closeDone: make(chan struct{}), ready: make(chan struct{}), subs: make(map[*subscription]struct{})}
	var conn *amqp.Connection
	for attempt := 1; ; attempt++ {
		if conn, err = b.dial(ctx); err == nil {
			break
		}
		if !transient(err) || ctx.Err() != nil || !b.sleep(ctx, cfg.backoff.Delay(attempt)) {
			return nil, err
		}
	}
	b.install(conn)
	b.wg.Add(1)
	go b.supervise()
	return b, nil
}

// dial connects once and declares the bus's exchanges.
func (b *Bus) dial(ctx context.Context) (*amqp.Connection, error) {
	cfg := amqp.Config{Heartbeat: 10 * time.Second, Locale: "en_US", Properties: amqp.Table{"connection_name": "microkit-rabbitbus"}}
	if dl, ok := ctx.Deadline(); ok {
		d := time.Until(dl)
		cfg.Dial = amqp.DefaultDial(max(d, time.Millisecond))
	}
	conn, err := amqp.DialConfig(b.url, cfg)
	if err != nil {
		return nil, fmt.Errorf("rabbitbus: dial: %w", err)
	}
	if err := b.declareExchanges(conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

func (b *Bus) declareExchanges(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("rabbitbus: declare: %w", err)
	}
	defer ch.Close()
	if err := ch.ExchangeDeclare(b.cfg.exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("rabbitbus: declare exchange %s: %w", b.cfg.exchange, err)
	}
	if err := ch.ExchangeDeclare(b.cfg.deadExchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("rabbitbus: declare exchange %s: %w", b.cfg.deadExchange, err)
	}
	if _, err := ch.QueueDeclare(b.cfg.deadQueue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("rabbitbus: declare queue %s: %w", b.cfg.deadQueue, err)
	}
	if err := ch.QueueBind(b.cfg.deadQueue, "#", b.cfg.deadExchange, false, nil); err != nil {
		return fmt.Errorf("rabbitbus: bind queue %s: %w", b.cfg.deadQueue, err)
	}
	return nil
}

// install makes conn the current connection and wakes its waiters.
func (b *Bus) install(conn *amqp.Connection) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.conn = conn
	b.lost = make(chan struct{})
	close(b.ready)
}

// supervise waits for the connection to be lost and re-establishes it,
// until Close.
func (b *Bus) supervise() {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		conn, lost := b.conn, b.lost
		b.mu.Unlock()
		closed := conn.NotifyClose(make(chan *amqp.Error, 1))
		select {
		case <-b.done:
			return
		case err := <-closed:
			b.cfg.logger.Warn("rabbitbus: connection lost", "error", err)
		}
		b.mu.Lock()
		b.conn, b.pub = nil, nil
		b.ready = make(chan struct{})
		close(lost)
		b.mu.Unlock()
		if !b.reconnect() {
			return
		}
	}
}

// reconnect dials with backoff until it succeeds (true) or the bus closes.
func (b *Bus) reconnect() bool {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := b.dial(ctx)
		cancel()
		if err == nil {
			select {
			case <-b.done:
				_ = conn.Close()
				return false
			default:
			}
			b.install(conn)
			b.cfg.logger.Info("rabbitbus: reconnected")
			return true
		}
		pause := b.cfg.backoff.Delay(attempt)
		b.cfg.logger.Debug("rabbitbus: reconnect failed", "error", err, "retry_in", pause)
		select {
		case <-b.done:
			return false
		case <-time.After(pause):
		}
	}
}

// connection returns the current connection and a channel closed when it
// is lost, waiting for a reconnect if there is none.
func (b *Bus) connection(ctx context.Context) (*amqp.Connection, <-chan struct{}, error) {
	for {
		b.mu.Lock()
		conn, lost, ready, closed := b.conn, b.lost, b.ready, b.isClosed
		b.mu.Unlock()
		if closed {
			return nil, nil, eventbus.ErrClosed
		}
		if conn != nil {
			return conn, lost, nil
		}
		select {
		case <-ready:
		case <-b.done:
			return nil, nil, eventbus.ErrClosed
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// channel opens a channel on the current connection.
func (b *Bus) channel(ctx context.Context) (*amqp.Channel, <-chan struct{}, error) {
	for {
		conn, lost, err := b.connection(ctx)
		if err != nil {
			return nil, nil, err
		}
		ch, err := conn.Channel()
		if err == nil {
			return ch, lost, nil
		}
		if !errors.Is(err, amqp.ErrClosed) {
			return nil, nil, err
		}
		// The connection died under us: wait for the supervisor.
		select {
		case <-lost:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// Close closes every subscription (what they delivered but was not
// acknowledged goes back to the queue), then the connection, and waits for
// the bus's goroutines until ctx ends; then it returns ctx's error and the
// rest finishes in the background. Publishes in progress fail with
// eventbus.ErrClosed. It is idempotent and safe to call concurrently: a
// second Close waits for the first one's work, bounded by its own ctx.
func (b *Bus) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.isClosed {
		b.mu.Unlock()
		select {
		case <-b.closeDone:
			return b.closeErr
		case <-ctx.Done():
			return fmt.Errorf("rabbitbus: close: %w", ctx.Err())
		}
	}
	b.isClosed = true
	subs := make([]*subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.subs = nil
	conn := b.conn
	close(b.done)
	b.mu.Unlock()
	go func() {
		b.closeErr = b.close(subs, conn)
		close(b.closeDone)
	}()
	select {
	case <-b.closeDone:
		return b.closeErr
	case <-ctx.Done():
		return fmt.Errorf("rabbitbus: close: %w", ctx.Err())
	}
}

// close does the work of Close.
func (b *Bus) close(subs []*subscription, conn *amqp.Connection) error {
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(s.close)
	}
	wg.Wait()
	var err error
	if conn != nil {
		if cerr := conn.Close(); cerr != nil && !errors.Is(cerr, amqp.ErrClosed) {
			err = fmt.Errorf("rabbitbus: close: %w", cerr)
		}
	}
	b.wg.Wait()
	return err
}

func (b *Bus) forget(s *subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, s)
}

// sleep waits d, or less if ctx ends or the bus closes (then false).
func (b *Bus) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-b.done:
		return false
	}
}

// transient reports whether err is a connection failure that retrying may
// cure (the broker is down or restarting), not a configuration error.
func transient(err error) bool {
	var (
		ae *amqp.Error
		ne net.Error
		oe *net.OpError
	)
	switch {
	case errors.Is(err, amqp.ErrClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return true
	case errors.As(err, &ae):
		return ae.Code == amqp.ConnectionForced || ae.Code == amqp.FrameError || ae.Code == amqp.InternalError
	case errors.As(err, &oe), errors.As(err, &ne):
		return true
	}
	return false
}
