package redisbus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/redisbus"
	"github.com/go-microkit/microkit/internal/redistest"
	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/redis/go-redis/v9"
)

func quiet() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// sharedAddr returns the address of the shared Redis server.
func sharedAddr(t testing.TB) string {
	t.Helper()
	return testenv.Addr(t, "MICROKIT_REDIS_ADDR")
}

// uniqueStream returns a stream key no other test uses, and deletes the
// stream and the keys beside it when the test ends.
func uniqueStream(t testing.TB, addr string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	key := "redisbus-test-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, key+"*").Result()
		if len(keys) > 0 {
			_ = rdb.Del(ctx, keys...).Err()
		}
	})
	return key
}

func connect(t *testing.T, addr string, opts ...redisbus.Option) *redisbus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts = append([]redisbus.Option{redisbus.WithLogger(quiet())}, opts...)
	b, err := redisbus.Connect(ctx, addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// TestConformance runs the suite on the shared server, but for the broker
// restart, which needs a server of its own: TestConformanceRestart.
func TestConformance(t *testing.T) {
	addr := sharedAddr(t)
	stream := uniqueStream(t, addr)
	eventbustest.Run(t, eventbustest.Config{
		Connect: func(t *testing.T) eventbustest.Instance {
			// A short claim min idle so that what a killed consumer held
			// comes back within the test.
			b := connect(t, addr, redisbus.WithStream(stream), redisbus.WithClaimMinIdle(2*time.Second))
			return eventbustest.Instance{Publisher: b, Subscriber: b}
		},
	})
}

// TestConformanceRestart runs the suite, broker restart included, on a
// throwaway server with appendonly persistence.
func TestConformanceRestart(t *testing.T) {
	srv := redistest.Start(t)
	eventbustest.Run(t, eventbustest.Config{
		Connect: func(t *testing.T) eventbustest.Instance {
			b := connect(t, srv.Addr(), redisbus.WithClaimMinIdle(2*time.Second))
			return eventbustest.Instance{Publisher: b, Subscriber: b}
		},
		Restart: func(t *testing.T) { srv.Restart(t) },
	})
}
