package rabbitbus_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/rabbitbus"
	"github.com/go-microkit/microkit/internal/testenv"
	amqp "github.com/rabbitmq/amqp091-go"
)

// broker is a RabbitMQ broker with an exchange of its own for one test:
// tests and reruns share the server, so every test names its own exchange
// and deletes what it declared when it ends.
type broker struct {
	url      string
	exchange string

	mu     sync.Mutex
	queues map[string]bool
}

func newBroker(t testing.TB) *broker {
	t.Helper()
	br := &broker{
		url:      testenv.Addr(t, "MICROKIT_RABBITMQ_URL"),
		exchange: "microkit_test_" + strings.ToLower(rand.Text()[:10]),
		queues:   make(map[string]bool),
	}
	t.Cleanup(func() { br.cleanup(t) })
	return br
}

// dial returns a bus on the test's exchange, closed when the test ends.
func (br *broker) dial(t testing.TB, opts ...rabbitbus.Option) *rabbitbus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts = append([]rabbitbus.Option{rabbitbus.WithExchange(br.exchange), rabbitbus.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	b, err := rabbitbus.Connect(ctx, br.url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// subscriber records the queues its subscriptions declare, for cleanup.
func (br *broker) subscriber(b *rabbitbus.Bus) eventbus.Subscriber {
	return recording{Bus: b, br: br}
}

type recording struct {
	*rabbitbus.Bus
	br *broker
}

func (r recording) Subscribe(ctx context.Context, group, pattern string, opts ...eventbus.SubscribeOption) (eventbus.Subscription, error) {
	r.br.mu.Lock()
	r.br.queues[rabbitbus.QueueName(r.br.exchange, group, pattern)] = true
	r.br.mu.Unlock()
	return r.Bus.Subscribe(ctx, group, pattern, opts...)
}

// cleanup deletes the test's queues and exchanges. Retry queues expire on
// their own a minute after their last use.
func (br *broker) cleanup(t testing.TB) {
	conn, err := dialRetry(br.url, 30*time.Second)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer ch.Close()
	br.mu.Lock()
	defer br.mu.Unlock()
	br.queues[br.exchange+".dead"] = true
	for q := range br.queues {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			t.Errorf("cleanup: delete queue %s: %v", q, err)
			return
		}
	}
	for _, x := range []string{br.exchange, br.exchange + ".dlx"} {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			t.Errorf("cleanup: delete exchange %s: %v", x, err)
			return
		}
	}
}

// deleteExchange deletes an exchange the test declared besides the usual.
func (br *broker) deleteExchange(t *testing.T, name string) {
	conn, err := dialRetry(br.url, 30*time.Second)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer ch.Close()
	if err := ch.ExchangeDelete(name, false, false); err != nil {
		t.Errorf("cleanup: delete exchange %s: %v", name, err)
	}
}

// plainChannel opens a channel of a plain amqp091 client, closed with its
// connection when the test ends: the other side a test runs the bus
// against.
func (br *broker) plainChannel(t *testing.T) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(br.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// dialRetry connects, retrying for up to wait (the broker may be starting).
func dialRetry(url string, wait time.Duration) (*amqp.Connection, error) {
	deadline := time.Now().Add(wait)
	for {
		conn, err := amqp.Dial(url)
		if err == nil || time.Now().After(deadline) {
			return conn, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
