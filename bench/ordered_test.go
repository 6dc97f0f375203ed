package bench

// Ordered publishing: what natsbus and rabbitbus pay to keep the messages
// of one Subject in order when a batch holds several of them (each Subject
// publishes its k-th message only after every Subject's (k-1)-th is
// stored; see eventbus.SubjectWaves). Publish only, batches of 100, the
// benchmark payload. See docs/benchmarks.md.

import (
	"context"
	"fmt"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
	"github.com/go-microkit/microkit/internal/testenv"
)

// subjectLayouts are the batches measured: how many Subjects a batch of
// busBatch messages spreads over (0: none set).
var subjectLayouts = []struct {
	name     string
	subjects int
}{
	{"none", 0},
	{"distinct", busBatch},
	{"10x10", 10},
	{"1x100", 1},
}

// subjectBatch builds busBatch messages spread round-robin over subjects
// Subjects (none if 0).
func subjectBatch(subjects int) []*eventbus.Message {
	msgs := benchMessages(rabbitType, busBatch)
	if subjects > 0 {
		for i, m := range msgs {
			m.Subject = fmt.Sprint("order-", i%subjects)
		}
	}
	return msgs
}

func benchPublishLayouts(b *testing.B, pub eventbus.Publisher) {
	ctx := context.Background()
	for _, l := range subjectLayouts {
		b.Run(l.name, func(b *testing.B) {
			b.ReportAllocs()
			for sent := 0; sent < b.N; sent += busBatch {
				if err := pub.Publish(ctx, subjectBatch(l.subjects)...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNATSPublishSubjects publishes batches of 100 through natsbus to
// an embedded nats-server; an op is one message stored.
func BenchmarkNATSPublishSubjects(b *testing.B) {
	srv := natstest.Run(b)
	prefix := uniq("ord")
	bus, err := natsbus.Connect(context.Background(), srv.URL(), natsbus.WithStream(prefix), natsbus.WithSubjectPrefix(prefix), natsbus.WithLogger(quietSlog()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bus.Close(context.Background()) })
	benchPublishLayouts(b, bus)
}

// BenchmarkRabbitPublishSubjects publishes batches of 100 through rabbitbus
// to the local RabbitMQ, persistent into one bound durable queue; an op is
// one message confirmed.
func BenchmarkRabbitPublishSubjects(b *testing.B) {
	url := testenv.Addr(b, "MICROKIT_RABBITMQ_URL")
	x, _ := rabbitTopology(b, url, true)
	bus := microkitRabbitBus(b, url, x)
	benchPublishLayouts(b, bus)
}
