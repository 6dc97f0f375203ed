package redisbus_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/redisbus"
)

func benchMessages(n int) []*eventbus.Message {
	msgs := make([]*eventbus.Message, n)
	for i := range msgs {
		msgs[i] = &eventbus.Message{ID: eventbus.NewID(), Type: "bench.event", DataContentType: eventbus.JSONContentType, Data: make([]byte, 256)}
	}
	return msgs
}

// BenchmarkPublish publishes batches of 100 messages (one pipeline each);
// an op is one message stored.
func BenchmarkPublish(b *testing.B) {
	addr := sharedAddr(b)
	bus := benchBus(b, addr)
	ctx := context.Background()
	msgs := benchMessages(100)
	b.ReportAllocs()
	b.SetBytes(256)
	for i := 0; b.Loop(); i++ {
		if i%100 == 0 {
			if err := bus.Publish(ctx, msgs...); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkPublishConcurrent publishes one message per call from 16
// goroutines at once, as request handlers each publishing their event do:
// the calls that arrive while a pipeline is in flight share the next one.
// An op is one message stored.
func BenchmarkPublishConcurrent(b *testing.B) {
	addr := sharedAddr(b)
	bus := benchBus(b, addr)
	ctx := context.Background()
	const goroutines = 16
	b.SetParallelism((goroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.SetBytes(256)
	b.RunParallel(func(pb *testing.PB) {
		m := benchMessages(1)
		for pb.Next() {
			if err := bus.Publish(ctx, m...); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPublishOne publishes one message per call from one goroutine:
// a round trip each.
func BenchmarkPublishOne(b *testing.B) {
	addr := sharedAddr(b)
	bus := benchBus(b, addr)
	ctx := context.Background()
	m := benchMessages(1)
	b.ReportAllocs()
	b.SetBytes(256)
	for b.Loop() {
		if err := bus.Publish(ctx, m...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishNextAck is one message through the bus: publish, deliver,
// acknowledge, one at a time (latency bound: two round trips a message).
func BenchmarkPublishNextAck(b *testing.B) {
	addr := sharedAddr(b)
	bus := benchBus(b, addr)
	ctx := context.Background()
	sub, err := bus.Subscribe(ctx, "bench", "bench.>")
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	m := benchMessages(1)
	b.ReportAllocs()
	for b.Loop() {
		if err := bus.Publish(ctx, m...); err != nil {
			b.Fatal(err)
		}
		d, err := sub.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Ack(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkThroughput publishes batches of 100 while a router consumes;
// an op is one message published, handled and acknowledged.
func BenchmarkThroughput(b *testing.B) {
	addr := sharedAddr(b)
	bus := benchBus(b, addr)
	ctx := context.Background()
	handled := make(chan struct{}, 1024)
	r, err := eventbus.NewRouter(bus, "bench", eventbus.WithLogger(quiet()))
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Handle("bench.event", func(context.Context, *eventbus.Message) error {
		handled <- struct{}{}
		return nil
	}, eventbus.HandlerPrefetch(256)); err != nil {
		b.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer r.Close(ctx)
	msgs := benchMessages(100)
	b.ReportAllocs()
	b.SetBytes(256)
	published := make(chan error, 1)
	n := b.N
	b.ResetTimer()
	go func() {
		for sent := 0; sent < n; sent += len(msgs) {
			if err := bus.Publish(ctx, msgs[:min(len(msgs), n-sent)]...); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	for range n {
		<-handled
	}
	b.StopTimer()
	if err := <-published; err != nil {
		b.Fatal(err)
	}
}

func benchBus(b *testing.B, addr string) *redisbus.Bus {
	b.Helper()
	stream := uniqueStream(b, addr)
	bus, err := redisbus.Connect(context.Background(), addr, redisbus.WithStream(stream), redisbus.WithLogger(quiet()),
		redisbus.WithTrimInterval(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bus.Close(context.Background()) })
	return bus
}
