package natsbus

import (
	"bytes"
	"maps"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/nats-io/nats.go"
)

func TestCodecRoundTrip(t *testing.T) {
	m := &eventbus.Message{
		ID: "id-1", Type: "order.created", Source: "/orders", Subject: "o-1",
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), DataContentType: "application/json",
		Data: []byte(`{"a":1}`), Metadata: map[string]string{"traceparent": "00-x", "correlation-id": "c"},
	}
	nm, err := encode("events", m)
	if err != nil {
		t.Fatal(err)
	}
	if nm.Subject != "events.order.created" || nm.Header.Get("Nats-Msg-Id") != "id-1" {
		t.Fatalf("encoded %s %v", nm.Subject, nm.Header)
	}
	got, err := decode("events", nm.Subject, nm.Header, nm.Data, "fallback")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != m.ID || got.Type != m.Type || got.Source != m.Source || got.Subject != m.Subject ||
		!got.Time.Equal(m.Time) || got.DataContentType != m.DataContentType || !bytes.Equal(got.Data, m.Data) ||
		!maps.Equal(got.Metadata, m.Metadata) {
		t.Fatalf("round trip %+v, want %+v", got, m)
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name    string
		subject string
		h       nats.Header
	}{
		{"outside prefix", "other.order.created", nil},
		{"bad time", "events.a", nats.Header{"ce-time": {"noon"}}},
		{"wildcard subject", "events.a.*", nil},
		{"no type", "events.", nil},
	}
	for _, tt := range tests {
		if _, err := decode("events", tt.subject, tt.h, nil, "id"); err == nil {
			t.Errorf("%s: decoded", tt.name)
		}
	}
}

// FuzzDecode feeds arbitrary subjects and header values to the envelope
// decoder: it must never panic, and what it accepts must encode and decode
// back to the same message.
func FuzzDecode(f *testing.F) {
	f.Add("events.order.created", "id-1", "order.created", "2026-01-02T03:04:05Z", "traceparent", "00-abc", []byte(`{}`))
	f.Add("events.a", "", "", "", "", "", []byte(nil))
	f.Add("events.a.b", "x", "a.b", "bad", "ce-extra", "v", []byte("data"))
	f.Fuzz(func(t *testing.T, subject, id, source, tm, key, value string, data []byte) {
		h := nats.Header{}
		for k, v := range map[string]string{"Nats-Msg-Id": id, "ce-source": source, "ce-time": tm, key: value} {
			if k != "" && v != "" {
				h[k] = []string{v}
			}
		}
		m, err := decode("events", subject, h, data, "fallback-id")
		if err != nil {
			return
		}
		nm, err := encode("events", m)
		if err != nil {
			return // e.g. a metadata value with a newline: rejected at publish
		}
		back, err := decode("events", nm.Subject, nm.Header, nm.Data, "other")
		if err != nil {
			t.Fatalf("re-decoding %v: %v", nm.Header, err)
		}
		if back.ID != m.ID || back.Type != m.Type || !back.Time.Equal(m.Time) || !maps.Equal(back.Metadata, m.Metadata) {
			t.Fatalf("round trip changed %+v into %+v", m, back)
		}
	})
}

func TestNumDelivered(t *testing.T) {
	tests := []struct {
		reply string
		want  int
		ok    bool
	}{
		{"$JS.ACK.EVENTS.billing_x.3.10.7.1700000000000000000.0", 3, true},
		{"$JS.ACK.hub.ACCHASH.EVENTS.billing_x.12.10.7.1700000000000000000.0.rand", 12, true},
		{"$JS.ACK.hub.ACCHASH.EVENTS.billing_x.5.10.7.1700000000000000000.0", 5, true},
		{"$JS.ACK.EVENTS.c.x.10.7.1.0", 0, false},
		{"$JS.ACK.too.short", 0, false},
		{"_INBOX.abc", 0, false},
		{"$JS.ACK.a.b.c.d.e.f.g.h.i.j", 0, false},
	}
	for _, tt := range tests {
		n, ok := numDelivered(tt.reply)
		if n != tt.want || ok != tt.ok {
			t.Errorf("numDelivered(%q) = %d, %v; want %d, %v", tt.reply, n, ok, tt.want, tt.ok)
		}
	}
}
