package redisbus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/redisbus"
	"github.com/redis/go-redis/v9"
)

func TestInvalidOptions(t *testing.T) {
	for name, opt := range map[string]redisbus.Option{
		"empty stream":       redisbus.WithStream(""),
		"long stream":        redisbus.WithStream(strings.Repeat("s", 201)),
		"hash tag":           redisbus.WithStream("{events}"),
		"tiny min idle":      redisbus.WithClaimMinIdle(time.Millisecond),
		"zero prefetch":      redisbus.WithPrefetch(0),
		"negative max len":   redisbus.WithMaxLen(-1),
		"negative trim time": redisbus.WithTrimInterval(-time.Second),
	} {
		// The options are checked before any connection is made.
		_, err := redisbus.Connect(context.Background(), "127.0.0.1:1", opt)
		if !errors.Is(err, eventbus.ErrInvalidOption) {
			t.Errorf("%s: Connect error %v, want ErrInvalidOption", name, err)
		}
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
		if _, err := redisbus.New(rdb, opt); !errors.Is(err, eventbus.ErrInvalidOption) {
			t.Errorf("%s: New error %v, want ErrInvalidOption", name, err)
		}
		_ = rdb.Close()
	}
	if _, err := redisbus.New(nil); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Errorf("New(nil) error %v, want ErrInvalidOption", err)
	}
	if _, err := redisbus.Connect(context.Background(), "redis://[::1", nil); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Errorf("Connect with a malformed URL: error %v, want ErrInvalidOption", err)
	}
}

// TestNewLeavesClientOpen: a bus on the caller's client leaves it open.
func TestNewLeavesClientOpen(t *testing.T) {
	addr := sharedAddr(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	b, err := redisbus.New(rdb, redisbus.WithStream(uniqueStream(t, addr)), redisbus.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	subscribe(t, b, "g", "a.>")
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("client closed with the bus: %v", err)
	}
	if err := b.Publish(ctx, messages("a.b", 1)...); !errors.Is(err, eventbus.ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
}
