package eventbus_test

import (
	"testing"

	"github.com/go-microkit/microkit/eventbus"
)

func BenchmarkMatch(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		eventbus.Match("order.*.>", "order.line.added.v2")
	}
}

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		eventbus.NewID()
	}
}

func BenchmarkMarshalUnmarshal(b *testing.B) {
	m, _ := eventbus.NewMessage("order.created", map[string]any{"orderId": "o-1", "total": 1250})
	m.Metadata = map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	b.ReportAllocs()
	for b.Loop() {
		raw, err := eventbus.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := eventbus.Unmarshal(raw); err != nil {
			b.Fatal(err)
		}
	}
}
