package sqlbus_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/sqlbus"
	"github.com/go-microkit/microkit/sqldialect"
)

// benchPayload is the 256-byte JSON payload of the bench/ comparisons.
var benchPayload = []byte(`{"data":"` + fmt.Sprintf("%0244d", 0) + `"}`)

func benchMessages(n int) []*eventbus.Message {
	msgs := make([]*eventbus.Message, n)
	for i := range msgs {
		msgs[i] = &eventbus.Message{ID: eventbus.NewID(), Type: "bench.event", DataContentType: eventbus.JSONContentType, Data: benchPayload}
	}
	return msgs
}

// benchBus returns a bus on a fresh database with the group "bench"
// registered, as in production.
func benchBus(b *testing.B, d sqldialect.Dialect) *sqlbus.Bus {
	bus, _ := open(b, d).bus(b)
	sub, err := bus.Subscribe(context.Background(), "bench", "bench.event")
	if err != nil {
		b.Fatal(err)
	}
	_ = sub.Close()
	return bus
}

// BenchmarkPublish publishes b.N messages in calls of 1 and of 100, with
// one consumer group registered.
// On PostgreSQL a call is one statement; on SQLite one transaction.
func BenchmarkPublish(b *testing.B) {
	for _, d := range dialects {
		for _, per := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/batch=%d", d, per), func(b *testing.B) {
				bus := benchBus(b, d)
				ctx := context.Background()
				b.ReportAllocs()
				for sent := 0; sent < b.N; sent += per {
					if err := bus.Publish(ctx, benchMessages(min(per, b.N-sent))...); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkConsume receives and acks b.N messages published before the
// timer starts, one at a time through Next: a claim statement per half
// prefetch (32 messages), an ack statement per round trip of queued acks.
func BenchmarkConsume(b *testing.B) {
	for _, d := range dialects {
		b.Run(d.String(), func(b *testing.B) {
			bus := benchBus(b, d)
			ctx := context.Background()
			for sent := 0; sent < b.N; sent += 500 {
				if err := bus.Publish(ctx, benchMessages(min(500, b.N-sent))...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			sub, err := bus.Subscribe(ctx, "bench", "bench.event")
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			for range b.N {
				dl, err := sub.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := dl.Ack(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
