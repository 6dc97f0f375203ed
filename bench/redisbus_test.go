package bench

// Redis Streams: microkit's redisbus against watermill-redisstream, both on
// go-redis against the Redis server at MICROKIT_REDIS_ADDR, each run on a
// stream of its own (deleted at the end), with the 256-byte payload and
// the batches of the eventbus benchmarks. Publish stores batches of
// busBatch messages (PublishOne one per call, PublishConcurrent one per
// call from many goroutines at once); Consume has one consumer of a consumer group take
// b.N messages published beforehand, acknowledging each; Throughput does
// both at once. See docs/benchmarks.md.

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmredis "github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/redisbus"
	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// redisSystem is one Redis Streams pub/sub under test.
type redisSystem struct {
	name string
	// publisher returns a function that publishes n messages to stream in
	// one call.
	publisher func(b *testing.B, addr, stream string) (publish func(n int) error, stop func())
	// consume starts one consumer of a group that reads stream from its
	// start, calling onMsg after acknowledging each message.
	consume func(b *testing.B, addr, stream string, onMsg func()) (stop func())
}

func redisbusBus(b *testing.B, addr, stream string) *redisbus.Bus {
	bus, err := redisbus.Connect(context.Background(), addr, redisbus.WithStream(stream), redisbus.WithLogger(quietSlog()),
		redisbus.WithStartFromOldest(), redisbus.WithTrimInterval(0))
	if err != nil {
		b.Fatal(err)
	}
	return bus
}

func redisbusSystem() redisSystem {
	return redisSystem{
		name: "redisbus",
		publisher: func(b *testing.B, addr, stream string) (func(int) error, func()) {
			bus := redisbusBus(b, addr, stream)
			ctx := context.Background()
			return func(n int) error { return bus.Publish(ctx, benchMessages("bench.event", n)...) },
				func() { _ = bus.Close(ctx) }
		},
		consume: func(b *testing.B, addr, stream string, onMsg func()) func() {
			bus := redisbusBus(b, addr, stream)
			_, stop := routerSystem(context.Background(), b, bus, onMsg, eventbus.HandlerPrefetch(busPrefetch))
			return stop
		},
	}
}

func watermillRedisSystem() redisSystem {
	return redisSystem{
		name: "watermill",
		publisher: func(b *testing.B, addr, stream string) (func(int) error, func()) {
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			pub, err := wmredis.NewPublisher(wmredis.PublisherConfig{Client: rdb}, watermill.NopLogger{})
			if err != nil {
				b.Fatal(err)
			}
			return func(n int) error { return pub.Publish(stream, watermillBatch(n)...) },
				func() { _ = pub.Close(); _ = rdb.Close() }
		},
		consume: func(b *testing.B, addr, stream string, onMsg func()) func() {
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			sub, err := wmredis.NewSubscriber(wmredis.SubscriberConfig{
				Client: rdb, ConsumerGroup: "bench", OldestId: "0", DisableIndefiniteInitialBlock: true,
			}, watermill.NopLogger{})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			ch, err := sub.Subscribe(ctx, stream)
			if err != nil {
				b.Fatal(err)
			}
			done := ackAll(ch, onMsg)
			return func() { cancel(); _ = sub.Close(); <-done; _ = rdb.Close() }
		},
	}
}

// redisStream returns a fresh stream key, deleted with what lives beside
// it when the benchmark ends.
func redisStream(b *testing.B, addr string) string {
	stream := uniq("bench-redis-")
	b.Cleanup(func() {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, stream+"*").Result()
		if len(keys) > 0 {
			_ = rdb.Del(ctx, keys...).Err()
		}
	})
	return stream
}

// publishAll publishes n messages in batches of busBatch.
func publishAll(b *testing.B, publish func(int) error, n int) {
	for sent := 0; sent < n; sent += busBatch {
		if err := publish(min(busBatch, n-sent)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRedisPublish(b *testing.B, addr string, sys redisSystem) {
	publish, stop := sys.publisher(b, addr, redisStream(b, addr))
	defer stop()
	b.ReportAllocs()
	b.SetBytes(busPayloadSize)
	b.ResetTimer()
	start := time.Now()
	publishAll(b, publish, b.N)
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// benchRedisPublishOne publishes one message per call: the round trip
// bounds every system.
func benchRedisPublishOne(b *testing.B, addr string, sys redisSystem) {
	publish, stop := sys.publisher(b, addr, redisStream(b, addr))
	defer stop()
	b.ReportAllocs()
	b.SetBytes(busPayloadSize)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := publish(1); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

func benchRedisConsume(b *testing.B, addr string, sys redisSystem) {
	stream := redisStream(b, addr)
	publish, stopPub := sys.publisher(b, addr, stream)
	publishAll(b, publish, b.N)
	stopPub()
	// The rate counts from the first message handled, so that neither
	// system's start (creating the group, a first blocking read) is in it.
	var handled, first atomic.Int64 // first: the first message's time, in Unix nanoseconds
	all := make(chan struct{})
	target := int64(b.N)
	b.ReportAllocs()
	b.SetBytes(busPayloadSize)
	b.ResetTimer()
	stop := sys.consume(b, addr, stream, func() {
		n := handled.Add(1)
		if n == 1 {
			first.Store(time.Now().UnixNano())
		}
		if n == target {
			close(all)
		}
	})
	defer stop()
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		b.Fatalf("%s handled %d of %d", sys.name, handled.Load(), b.N)
	}
	elapsed := time.Since(time.Unix(0, first.Load()))
	b.StopTimer()
	if b.N > 1 {
		b.ReportMetric(float64(b.N-1)/elapsed.Seconds(), "msgs/s")
	}
}

// asBusSystem runs a redisSystem in the throughput benchmark of
// eventbus_test.go: the consumer first, then the publisher, on one stream.
func asBusSystem(addr string, sys redisSystem) busSystem {
	return busSystem{name: sys.name, setup: func(b *testing.B, onMsg func()) (func(int) error, func()) {
		stream := redisStream(b, addr)
		stopConsume := sys.consume(b, addr, stream, onMsg)
		publish, stopPub := sys.publisher(b, addr, stream)
		return publish, func() { stopConsume(); stopPub() }
	}}
}

func redisSystems() []redisSystem { return []redisSystem{redisbusSystem(), watermillRedisSystem()} }

func BenchmarkRedisPublish(b *testing.B) {
	addr := testenv.Addr(b, "MICROKIT_REDIS_ADDR")
	for _, sys := range rotatedRedis(redisSystems()) {
		b.Run(sys.name, func(b *testing.B) { benchRedisPublish(b, addr, sys) })
	}
}

func BenchmarkRedisPublishOne(b *testing.B) {
	addr := testenv.Addr(b, "MICROKIT_REDIS_ADDR")
	for _, sys := range rotatedRedis(redisSystems()) {
		b.Run(sys.name, func(b *testing.B) { benchRedisPublishOne(b, addr, sys) })
	}
}

// redisConcurrency is the number of goroutines of
// BenchmarkRedisPublishConcurrent: request handlers of a busy service.
const redisConcurrency = 16

// BenchmarkRedisPublishConcurrent publishes one message per call from
// redisConcurrency goroutines at once, each call waiting for its own
// reply: many request handlers each publishing their event. Each system
// runs with its defaults on one client: redisbus gathers the calls that
// arrive while a pipeline is in flight into the next one, watermill's
// publisher (safe for concurrent use) sends an XADD per call on a
// connection of the client's pool.
func BenchmarkRedisPublishConcurrent(b *testing.B) {
	addr := testenv.Addr(b, "MICROKIT_REDIS_ADDR")
	for _, sys := range rotatedRedis(redisSystems()) {
		b.Run(sys.name, func(b *testing.B) {
			publish, stop := sys.publisher(b, addr, redisStream(b, addr))
			defer stop()
			if err := publish(1); err != nil { // a connection in the pool
				b.Fatal(err)
			}
			benchPublishConcurrent(b, redisConcurrency, publish)
		})
	}
}

// BenchmarkRedisInterleaved publishes one message per call, the systems
// taking turns op by op (in an order that rotates), so that every system
// sees the same server and machine state; it reports each one's mean time
// per message (<system>-ns/msg).
func BenchmarkRedisInterleaved(b *testing.B) {
	addr := testenv.Addr(b, "MICROKIT_REDIS_ADDR")
	systems := redisSystems()
	publish := make([]func(int) error, len(systems))
	for i, sys := range systems {
		p, stop := sys.publisher(b, addr, redisStream(b, addr))
		defer stop()
		publish[i] = p
		if err := p(1); err != nil { // a connection in the pool
			b.Fatal(err)
		}
	}
	spent := make([]time.Duration, len(systems))
	b.ReportAllocs()

	for i := 0; b.Loop(); i++ {
		for k := range systems {
			j := (i + k) % len(systems)
			t0 := time.Now()
			if err := publish[j](1); err != nil {
				b.Fatal(err)
			}
			spent[j] += time.Since(t0)
		}
	}
	b.StopTimer()
	for i, sys := range systems {
		b.ReportMetric(float64(spent[i].Nanoseconds())/float64(b.N), sys.name+"-ns/msg")
	}
}

func BenchmarkRedisConsume(b *testing.B) {
	addr := testenv.Addr(b, "MICROKIT_REDIS_ADDR")
	for _, sys := range rotatedRedis(redisSystems()) {
		b.Run(sys.name, func(b *testing.B) { benchRedisConsume(b, addr, sys) })
	}
}

func BenchmarkRedisThroughput(b *testing.B) {
	addr := testenv.Addr(b, "MICROKIT_REDIS_ADDR")
	var systems []busSystem
	for _, sys := range redisSystems() {
		systems = append(systems, asBusSystem(addr, sys))
	}
	warmUp(b, systems)
	for _, sys := range rotated(systems) {
		b.Run(sys.name, func(b *testing.B) { benchThroughput(b, sys) })
	}
}

// rotatedRedis rotates the order of the systems as rotated does.
func rotatedRedis(systems []redisSystem) []redisSystem {
	k := int((busRounds.Add(1) + busSeed) % int64(len(systems)))
	return append(append([]redisSystem(nil), systems[k:]...), systems[:k]...)
}
