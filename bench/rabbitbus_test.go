package bench

// RabbitMQ publishing: microkit's rabbitbus against raw amqp091-go and
// watermill-amqp/v3, all with publisher confirms and persistent messages
// into one durable queue bound to a topic exchange, so that the broker
// writes every message to disk before it confirms. Each system gets its own
// exchange and queue, deleted at the end. See docs/benchmarks.md.

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/rabbitbus"
	"github.com/go-microkit/microkit/internal/testenv"
	amqp "github.com/rabbitmq/amqp091-go"
)

const rabbitType = "bench.event"

// rabbitTopology declares exchange (topic) and a durable queue, bound to it
// with "#" if bind, and deletes both when the benchmark ends. Without the
// binding the broker confirms each message as soon as it routed it nowhere,
// without touching the disk: what is left is the client and the round trip.
func rabbitTopology(b *testing.B, url string, bind bool) (exchange, queue string) {
	b.Helper()
	suffix := strings.ToLower(rand.Text()[:8])
	exchange, queue = "bench_x_"+suffix, "bench_q_"+suffix
	conn, err := amqp.Dial(url)
	if err != nil {
		b.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.ExchangeDeclare(exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	if bind {
		if err := ch.QueueBind(queue, "#", exchange, false, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		_, _ = ch.QueueDelete(queue, false, false, false)
		_ = ch.ExchangeDelete(exchange, false, false)
		_ = ch.ExchangeDelete(exchange+".dlx", false, false)
		_, _ = ch.QueueDelete(exchange+".dead", false, false, false)
		_ = conn.Close()
	})
	return exchange, queue
}

// rabbitPublisher publishes batch messages per call, returning after the
// broker confirmed them all.
type rabbitPublisher func(batch int) error

func microkitRabbit(b *testing.B, url, exchange string) rabbitPublisher {
	bus := microkitRabbitBus(b, url, exchange)
	ctx := context.Background()
	return func(batch int) error { return bus.Publish(ctx, benchMessages(rabbitType, batch)...) }
}

// microkitRabbitBus dials a rabbitbus on exchange, closed when the
// benchmark ends.
func microkitRabbitBus(b *testing.B, url, exchange string) *rabbitbus.Bus {
	bus, err := rabbitbus.Connect(context.Background(), url, rabbitbus.WithExchange(exchange), rabbitbus.WithLogger(quietSlog()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bus.Close(context.Background()) })
	return bus
}

// rawRabbit is what a careful hand-written publisher does: one channel in
// confirm mode, publish the batch, then wait for every confirmation.
func rawRabbit(b *testing.B, url, exchange string) rabbitPublisher {
	conn, err := amqp.Dial(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	return func(batch int) error {
		dcs := make([]*amqp.DeferredConfirmation, batch)
		for i := range dcs {
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, rabbitType, false, false, amqp.Publishing{
				MessageId: eventbus.NewID(), Type: rabbitType, ContentType: eventbus.JSONContentType,
				DeliveryMode: amqp.Persistent, Body: busPayload,
			})
			if err != nil {
				return err
			}
			dcs[i] = dc
		}
		for _, dc := range dcs {
			if ok, err := dc.WaitContext(ctx); err != nil || !ok {
				return amqp.ErrClosed
			}
		}
		return nil
	}
}

// watermillRabbit is watermill-amqp's durable topic publisher with
// confirms and a pooled channel (its fastest confirmed setup).
func watermillRabbit(b *testing.B, url, exchange, queue string) rabbitPublisher {
	return watermillRabbitPool(b, url, exchange, queue, 1)
}

// watermillRabbitPool is watermillRabbit with a pool of channels channels:
// concurrent Publish calls each take one.
func watermillRabbitPool(b *testing.B, url, exchange, queue string, channels int) rabbitPublisher {
	cfg := wmamqp.NewDurableTopicConfig(url, exchange, queue)
	cfg.Exchange.Durable = true
	cfg.Publish.ConfirmDelivery = true
	cfg.Publish.ChannelPoolSize = channels
	pub, err := wmamqp.NewPublisher(cfg, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = pub.Close() })
	return func(batch int) error { return pub.Publish(rabbitType, watermillBatch(batch)...) }
}

// rabbitSystem builds one system's publisher on a fresh topology.
type rabbitSystem struct {
	name string
	new  func(b *testing.B) rabbitPublisher
}

// rabbitSystems are the three publishers on topologies bound as bind says;
// watermill gets a pool of watermillChannels channels.
func rabbitSystems(url string, bind bool, watermillChannels int) []rabbitSystem {
	return []rabbitSystem{
		{"microkit", func(b *testing.B) rabbitPublisher {
			x, _ := rabbitTopology(b, url, bind)
			return microkitRabbit(b, url, x)
		}},
		{"amqp091", func(b *testing.B) rabbitPublisher { x, _ := rabbitTopology(b, url, bind); return rawRabbit(b, url, x) }},
		{"watermill", func(b *testing.B) rabbitPublisher {
			x, q := rabbitTopology(b, url, bind)
			return watermillRabbitPool(b, url, x, q, watermillChannels)
		}},
	}
}

func benchRabbitPublish(b *testing.B, batch int, bind bool) {
	url := testenv.Addr(b, "MICROKIT_RABBITMQ_URL")
	for _, sys := range rabbitSystems(url, bind, 1) {
		b.Run(sys.name, func(b *testing.B) {
			publish := sys.new(b)
			b.SetBytes(busPayloadSize)
			b.ReportAllocs()
			b.ResetTimer()
			sent := 0
			for sent < b.N {
				n := min(batch, b.N-sent)
				if err := publish(n); err != nil {
					b.Fatal(err)
				}
				sent += n
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkRabbitPublish publishes one message per call and waits for its
// confirmation: the latency-bound case of a request handler.
func BenchmarkRabbitPublish(b *testing.B) { benchRabbitPublish(b, 1, true) }

// BenchmarkRabbitPublishBatch publishes 100 messages per call: the
// throughput case of an outbox relay.
func BenchmarkRabbitPublishBatch(b *testing.B) { benchRabbitPublish(b, busBatch, true) }

// BenchmarkRabbitPublishNoDisk publishes one message per call to an
// exchange without queues: the confirm needs no disk write, so the client's
// own cost is not hidden by the broker's fsync.
func BenchmarkRabbitPublishNoDisk(b *testing.B) { benchRabbitPublish(b, 1, false) }

// benchRabbitInterleaved publishes single messages round-robin through the
// three systems, one op each in turn, and reports each system's mean time
// per message: every system sees the same broker state, op by op, which
// separate runs on a shared broker cannot ensure.
func benchRabbitInterleaved(b *testing.B, bind bool) {
	url := testenv.Addr(b, "MICROKIT_RABBITMQ_URL")
	x1, _ := rabbitTopology(b, url, bind)
	x2, _ := rabbitTopology(b, url, bind)
	x3, q3 := rabbitTopology(b, url, bind)
	systems := []rabbitPublisher{microkitRabbit(b, url, x1), rawRabbit(b, url, x2), watermillRabbit(b, url, x3, q3)}
	var spent [3]time.Duration
	var ops [3]int
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := i % 3
		start := time.Now()
		if err := systems[k](1); err != nil {
			b.Fatal(err)
		}
		spent[k] += time.Since(start)
		ops[k]++
	}
	for k, name := range []string{"microkit", "amqp091", "watermill"} {
		if ops[k] > 0 {
			b.ReportMetric(float64(spent[k].Nanoseconds())/float64(ops[k]), name+"-ns/msg")
		}
	}
}

// BenchmarkRabbitInterleaved: single confirmed messages into a durable
// queue, the three systems interleaved op by op.
func BenchmarkRabbitInterleaved(b *testing.B) { benchRabbitInterleaved(b, true) }

// BenchmarkRabbitInterleavedNoDisk: as BenchmarkRabbitInterleaved, to
// exchanges without queues (no disk write before the confirm).
func BenchmarkRabbitInterleavedNoDisk(b *testing.B) { benchRabbitInterleaved(b, false) }

// rabbitConcurrency is how many goroutines publish at once in
// BenchmarkRabbitPublishConcurrent: request handlers of a busy service.
const rabbitConcurrency = 16

// BenchmarkRabbitPublishConcurrent publishes one message per call from
// rabbitConcurrency goroutines at once, each call waiting for its own
// confirm: many request handlers publishing. microkit and raw amqp091
// share one confirm-mode channel, so the confirms of concurrent calls
// pipeline; watermill-amqp gets a pool of one channel per goroutine, its
// fastest setup for this case.
func BenchmarkRabbitPublishConcurrent(b *testing.B) {
	url := testenv.Addr(b, "MICROKIT_RABBITMQ_URL")
	for _, sys := range rabbitSystems(url, true, rabbitConcurrency) {
		b.Run(sys.name, func(b *testing.B) {
			benchPublishConcurrent(b, rabbitConcurrency, sys.new(b))
		})
	}
}
