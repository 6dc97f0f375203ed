package bench

// Event bus: microkit's eventbus (memory and natsbus) against raw nats.go
// jetstream and watermill (GoChannel, watermill-nats/v2 jetstream), all in one
// run against one embedded nats-server. Every system moves the same 256-byte
// payload, consumes with one goroutine and acknowledges each message without
// waiting for the server's confirmation. See docs/benchmarks.md.

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	busPayloadSize = 256
	busBatch       = 100 // messages per Publish call in throughput runs
	busPrefetch    = 256
)

var busPayload = func() []byte {
	b := []byte(`{"data":"`)
	for len(b) < busPayloadSize-2 {
		b = append(b, 'x')
	}
	return append(b, '"', '}')
}()

// busSystem is one pub/sub under test. setup returns a publish function for
// a batch of n messages and starts a consumer that calls onMsg after acking
// each message; stop stops the consumer and releases everything.
type busSystem struct {
	name  string
	setup func(b *testing.B, onMsg func()) (publish func(n int) error, stop func())
}

var busRun atomic.Int64

// uniq names a fresh topic per benchmark run, so runs never see each other's
// messages.
func uniq(prefix string) string { return fmt.Sprintf("%s%d", prefix, busRun.Add(1)) }

func quietSlog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// benchMessages builds n messages of type typ with the benchmark payload.
func benchMessages(typ string, n int) []*eventbus.Message {
	msgs := make([]*eventbus.Message, n)
	for i := range msgs {
		msgs[i] = &eventbus.Message{ID: eventbus.NewID(), Type: typ, DataContentType: eventbus.JSONContentType, Data: busPayload}
	}
	return msgs
}

// benchPublishConcurrent runs publish (one message per call) from
// goroutines goroutines at once, as the request handlers of a busy service
// do; an op is one message, and it reports msgs/s.
func benchPublishConcurrent(b *testing.B, goroutines int, publish func(n int) error) {
	b.SetBytes(busPayloadSize)
	b.SetParallelism((goroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := publish(1); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// microkitBus is what routerSystem needs of a microkit bus.
type microkitBus interface {
	eventbus.Publisher
	eventbus.Subscriber
}

// routerSystem consumes "bench.event" from bus with an eventbus.Router,
// calling onMsg per handled message, and publishes batches through bus.
func routerSystem(ctx context.Context, b *testing.B, bus microkitBus, onMsg func(), opts ...eventbus.HandleOption) (func(int) error, func()) {
	r, err := eventbus.NewRouter(bus, "bench", eventbus.WithLogger(quietSlog()))
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Handle("bench.event", func(context.Context, *eventbus.Message) error {
		onMsg()
		return nil
	}, opts...); err != nil {
		b.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		b.Fatal(err)
	}
	publish := func(n int) error { return bus.Publish(ctx, benchMessages("bench.event", n)...) }
	return publish, func() { _ = r.Close(ctx); _ = bus.Close(context.Background()) }
}

func natsbusSystem(url string) busSystem {
	return busSystem{name: "natsbus", setup: func(b *testing.B, onMsg func()) (func(int) error, func()) {
		ctx := context.Background()
		prefix := uniq("mk")
		bus, err := natsbus.Connect(ctx, url, natsbus.WithStream(prefix), natsbus.WithSubjectPrefix(prefix), natsbus.WithLogger(quietSlog()))
		if err != nil {
			b.Fatal(err)
		}
		return routerSystem(ctx, b, bus, onMsg, eventbus.HandlerPrefetch(busPrefetch))
	}}
}

func rawJetStreamSystem(url string) busSystem {
	return busSystem{name: "jetstream", setup: func(b *testing.B, onMsg func()) (func(int) error, func()) {
		ctx := context.Background()
		nc, err := nats.Connect(url)
		if err != nil {
			b.Fatal(err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			b.Fatal(err)
		}
		name := uniq("raw")
		subject := name + ".bench.event"
		if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage}); err != nil {
			b.Fatal(err)
		}
		cons, err := js.CreateOrUpdateConsumer(ctx, name, jetstream.ConsumerConfig{
			Durable: "bench", FilterSubject: subject, AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverNewPolicy,
		})
		if err != nil {
			b.Fatal(err)
		}
		iter, err := cons.Messages(jetstream.PullMaxMessages(busPrefetch))
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				m, err := iter.Next()
				if err != nil {
					return
				}
				_ = m.Ack()
				onMsg()
			}
		}()
		publish := func(n int) error {
			for range n {
				// The same message natsbus sends: ID header, content type, body.
				m := &nats.Msg{Subject: subject, Data: busPayload, Header: nats.Header{"content-type": {eventbus.JSONContentType}}}
				if _, err := js.PublishMsgAsync(m, jetstream.WithMsgID(eventbus.NewID())); err != nil {
					return err
				}
			}
			select {
			case <-js.PublishAsyncComplete():
				return nil
			case <-time.After(30 * time.Second):
				return fmt.Errorf("publish acks timed out")
			}
		}
		return publish, func() { iter.Stop(); <-done; nc.Close() }
	}}
}

func watermillNATSSystem(url string) busSystem {
	return busSystem{name: "watermill", setup: func(b *testing.B, onMsg func()) (func(int) error, func()) {
		logger := watermill.NopLogger{}
		topic := uniq("wm")
		pub, err := wmjs.NewPublisher(wmjs.PublisherConfig{URL: url, Logger: logger})
		if err != nil {
			b.Fatal(err)
		}
		sub, err := wmjs.NewSubscriber(wmjs.SubscriberConfig{
			URL: url, Logger: logger, AckAsync: true,
			ResourceInitializer: wmjs.GroupedConsumer("bench"),
			ConsumeOptions:      []jetstream.PullConsumeOpt{jetstream.PullMaxMessages(busPrefetch)},
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := sub.SubscribeInitialize(topic); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := sub.Subscribe(ctx, topic)
		if err != nil {
			b.Fatal(err)
		}
		done := ackAll(ch, onMsg)
		publish := func(n int) error { return pub.Publish(topic, watermillBatch(n)...) }
		return publish, func() { cancel(); _ = sub.Close(); <-done; _ = pub.Close() }
	}}
}

func memorySystem() busSystem {
	return busSystem{name: "memory", setup: func(b *testing.B, onMsg func()) (func(int) error, func()) {
		ctx := context.Background()
		bus, err := memory.New()
		if err != nil {
			b.Fatal(err)
		}
		return routerSystem(ctx, b, bus, onMsg)
	}}
}

func goChannelSystem() busSystem {
	return busSystem{name: "gochannel", setup: func(b *testing.B, onMsg func()) (func(int) error, func()) {
		gc := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := gc.Subscribe(ctx, "bench.event")
		if err != nil {
			b.Fatal(err)
		}
		done := ackAll(ch, onMsg)
		publish := func(n int) error { return gc.Publish("bench.event", watermillBatch(n)...) }
		return publish, func() { cancel(); _ = gc.Close(); <-done }
	}}
}

// benchThroughput publishes b.N messages in batches while one consumer
// handles them; an op is one message published, delivered and acknowledged.
func benchThroughput(b *testing.B, sys busSystem) {
	var handled atomic.Int64
	all := make(chan struct{})
	target := int64(b.N)
	publish, stop := sys.setup(b, func() {
		if handled.Add(1) == target {
			close(all)
		}
	})
	defer stop()
	b.ReportAllocs()
	b.SetBytes(busPayloadSize)
	b.ResetTimer()
	start, cpuStart := time.Now(), busCPU()
	published := make(chan error, 1)
	go func() {
		for sent := 0; sent < b.N; sent += busBatch {
			if err := publish(min(busBatch, b.N-sent)); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		b.Fatalf("%s handled %d of %d", sys.name, handled.Load(), b.N)
	}
	elapsed, cpu := time.Since(start), busCPU()-cpuStart
	b.StopTimer()
	// The last publish may return after its message was handled: wait for
	// it before stop closes the connection.
	if err := <-published; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	// CPU time of the whole process (clients and the embedded server) per
	// message: what moving a message costs, less sensitive than wall time
	// to other load on a shared machine.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
}

// busCPU returns the user and system CPU time this process has used.
func busCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchLatency publishes one message at a time and waits for its handler;
// it reports the publish→handler latency's median and 99th percentile.
func benchLatency(b *testing.B, sys busSystem) {
	got := make(chan struct{}, 1)
	publish, stop := sys.setup(b, func() { got <- struct{}{} })
	defer stop()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := publish(1); err != nil {
			b.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(30 * time.Second):
			b.Fatal("no delivery")
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// busRounds rotates the order in which systems run, so that none is always
// first after the warm-up (or last, with the most garbage and the largest
// server state behind it). It starts from the clock, so that separate runs
// of the binary start at different systems.
var (
	busRounds atomic.Int64
	busSeed   = time.Now().UnixNano() % 7
)

func rotated[S any](systems []S) []S {
	k := int((busRounds.Add(1) + busSeed) % int64(len(systems)))
	return append(append([]S(nil), systems[k:]...), systems[:k]...)
}

// warmUp runs a few hundred messages through each system once per process,
// so that the first one measured does not pay for the server's and the
// runtime's warm-up alone.
func warmUp(b *testing.B, systems []busSystem) {
	for _, sys := range systems {
		var handled atomic.Int64
		all := make(chan struct{})
		publish, stop := sys.setup(b, func() {
			if handled.Add(1) == 300 {
				close(all)
			}
		})
		for range 3 {
			if err := publish(busBatch); err != nil {
				b.Fatal(err)
			}
		}
		<-all
		stop()
	}
}

func BenchmarkEventbusNATSThroughput(b *testing.B) {
	srv := natstest.Run(b)
	systems := []busSystem{natsbusSystem(srv.URL()), rawJetStreamSystem(srv.URL()), watermillNATSSystem(srv.URL())}
	warmUp(b, systems)
	for _, sys := range rotated(systems) {
		b.Run(sys.name, func(b *testing.B) { benchThroughput(b, sys) })
	}
}

func BenchmarkEventbusMemoryThroughput(b *testing.B) {
	systems := []busSystem{memorySystem(), goChannelSystem()}
	warmUp(b, systems)
	for _, sys := range rotated(systems) {
		b.Run(sys.name, func(b *testing.B) { benchThroughput(b, sys) })
	}
}

func BenchmarkEventbusLatency(b *testing.B) {
	srv := natstest.Run(b)
	systems := []busSystem{natsbusSystem(srv.URL()), rawJetStreamSystem(srv.URL()), watermillNATSSystem(srv.URL()), memorySystem(), goChannelSystem()}
	warmUp(b, systems)
	for _, sys := range rotated(systems) {
		b.Run(sys.name, func(b *testing.B) { benchLatency(b, sys) })
	}
}

// ackAll acks every watermill message from ch and counts it; the returned
// channel closes once ch does.
func ackAll(ch <-chan *message.Message, onMsg func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ch {
			m.Ack()
			onMsg()
		}
	}()
	return done
}

// watermillBatch returns n watermill messages carrying the benchmark payload.
func watermillBatch(n int) []*message.Message {
	msgs := make([]*message.Message, n)
	for i := range msgs {
		msgs[i] = message.NewMessage(watermill.NewUUID(), busPayload)
	}
	return msgs
}
