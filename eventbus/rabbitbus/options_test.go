package rabbitbus_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/rabbitbus"
)

func TestInvalidOptions(t *testing.T) {
	for name, opt := range map[string]rabbitbus.Option{
		"empty exchange":  rabbitbus.WithExchange(""),
		"zero prefetch":   rabbitbus.WithPrefetch(0),
		"huge prefetch":   rabbitbus.WithPrefetch(70000),
		"backoff min 0":   rabbitbus.WithReconnectBackoff(0, time.Second),
		"backoff max<min": rabbitbus.WithReconnectBackoff(time.Second, time.Millisecond),
		"empty dlx":       rabbitbus.WithDeadLetter("", "q"),
		"long dead queue": rabbitbus.WithDeadLetter("x", strings.Repeat("q", 256)),
		"own dlx arg":     rabbitbus.WithQueueArguments(map[string]any{"x-dead-letter-exchange": "elsewhere"}),
		"bad arg type":    rabbitbus.WithQueueArguments(map[string]any{"x-max-length": uint(10)}),
	} {
		_, err := rabbitbus.Connect(context.Background(), "amqp://127.0.0.1:1/", opt)
		if !errors.Is(err, eventbus.ErrInvalidOption) {
			t.Errorf("%s: Connect error %v, want ErrInvalidOption", name, err)
		}
	}
}

// TestSubscribeRejectsInvalidPrefetch: an explicit prefetch is never taken
// as the default, and one basic.qos cannot carry is refused rather than
// truncated.
func TestSubscribeRejectsInvalidPrefetch(t *testing.T) {
	br := newBroker(t)
	b := br.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range []int{0, -1, rabbitbus.MaxPrefetch + 1} {
		sub, err := br.subscriber(b).Subscribe(ctx, "prefetch", "a.b", eventbus.WithPrefetch(n))
		if !errors.Is(err, eventbus.ErrInvalidOption) {
			t.Errorf("Subscribe with prefetch %d = %v, want ErrInvalidOption", n, err)
		}
		if sub != nil {
			_ = sub.Close()
		}
	}
}

// TestConnectRetriesUntilContextEnds: with nothing listening, Connect keeps
// retrying (a broker that is starting) and returns the connection error
// when its context ends.
func TestConnectRetriesUntilContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := rabbitbus.Connect(ctx, "amqp://guest:guest@127.0.0.1:1/", rabbitbus.WithReconnectBackoff(10*time.Millisecond, 50*time.Millisecond))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Connect to a closed port = %v, want connection refused", err)
	}
	if ctx.Err() == nil {
		t.Fatal("Connect gave up before its context ended")
	}
}
