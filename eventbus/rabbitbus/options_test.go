package rabbitbus_test

import (
	"context"
	"errors"
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
		"nil logger":      rabbitbus.WithLogger(nil),
		"backoff min 0":   rabbitbus.WithReconnectBackoff(0, time.Second),
		"backoff max<min": rabbitbus.WithReconnectBackoff(time.Second, time.Millisecond),
		"empty dlx":       rabbitbus.WithDeadLetter("", "q"),
	} {
		_, err := rabbitbus.Dial(context.Background(), "amqp://127.0.0.1:1/", opt)
		if !errors.Is(err, eventbus.ErrInvalidOption) {
			t.Errorf("%s: Dial error %v, want ErrInvalidOption", name, err)
		}
	}
}

// TestDialRetriesUntilContextEnds: with nothing listening, Dial keeps
// retrying (a broker that is starting) and returns the connection error
// when its context ends.
func TestDialRetriesUntilContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := rabbitbus.Dial(ctx, "amqp://guest:guest@127.0.0.1:1/", rabbitbus.WithReconnectBackoff(10*time.Millisecond, 50*time.Millisecond))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial to a closed port = %v, want connection refused", err)
	}
	if ctx.Err() == nil {
		t.Fatal("Dial gave up before its context ended")
	}
}
