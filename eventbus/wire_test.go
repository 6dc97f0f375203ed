package eventbus_test

import (
	"bytes"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

func equalMessages(a, b *eventbus.Message) bool {
	return a.ID == b.ID && a.Type == b.Type && a.Source == b.Source && a.Subject == b.Subject &&
		a.Time.Equal(b.Time) && a.DataContentType == b.DataContentType && bytes.Equal(a.Data, b.Data) &&
		maps.Equal(a.Metadata, b.Metadata)
}

func TestWireRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		msg    *eventbus.Message
		inline bool // JSON data embedded as "data", not base64
	}{
		{"json", &eventbus.Message{ID: "1", Type: "order.created", Source: "/orders", Subject: "o-1",
			Time: time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC), DataContentType: eventbus.JSONContentType,
			Data: []byte(`{"a":1}`), Metadata: map[string]string{"traceparent": "00-x", "k": "v"}}, true},
		{"json not compact", &eventbus.Message{ID: "2", Type: "a.b", Data: []byte(`{ "a": 1 }`)}, false},
		{"binary", &eventbus.Message{ID: "3", Type: "a.b", DataContentType: "application/octet-stream", Data: []byte{0, 1, 0xff}}, false},
		{"no data", &eventbus.Message{ID: "4", Type: "a.b"}, false},
		{"zone kept", &eventbus.Message{ID: "5", Type: "a.b", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := eventbus.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Contains(b, []byte(`"data":`)); got != tt.inline {
				t.Errorf("inline data = %v in %s", got, b)
			}
			got, err := eventbus.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if !equalMessages(got, tt.msg) {
				t.Fatalf("round trip: got %+v, want %+v", got, tt.msg)
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not json":      `nope`,
		"wrong version": `{"specversion":"0.3","id":"1","type":"a"}`,
		"no id":         `{"specversion":"1.0","type":"a"}`,
		"bad type":      `{"specversion":"1.0","id":"1","type":"a.*"}`,
		"bad time":      `{"specversion":"1.0","id":"1","type":"a","time":"yesterday"}`,
		"both data":     `{"specversion":"1.0","id":"1","type":"a","data":1,"data_base64":"AA=="}`,
		"bad base64":    `{"specversion":"1.0","id":"1","type":"a","data_base64":"!!"}`,
	} {
		if _, err := eventbus.Unmarshal([]byte(in)); !errors.Is(err, eventbus.ErrInvalidMessage) {
			t.Errorf("%s: Unmarshal = %v, want ErrInvalidMessage", name, err)
		}
	}
	if _, err := eventbus.Marshal(&eventbus.Message{Type: "a"}); !errors.Is(err, eventbus.ErrInvalidMessage) {
		t.Errorf("Marshal without ID = %v", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	seed, _ := eventbus.Marshal(&eventbus.Message{ID: "1", Type: "order.created", Source: "/s", Subject: "o",
		Time: time.Unix(1700000000, 5).UTC(), Data: []byte(`{"a":[1,2]}`), Metadata: map[string]string{"k": "v"}})
	f.Add(seed)
	f.Add([]byte(`{"specversion":"1.0","id":"x","type":"a.b","data_base64":"AAEC","datacontenttype":"application/octet-stream"}`))
	f.Add([]byte(`{"specversion":"1.0","id":"x","type":"a.b","data":"text"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := eventbus.Unmarshal(b)
		if err != nil {
			return
		}
		again, err := eventbus.Marshal(m)
		if err != nil {
			t.Fatalf("a decoded message does not encode: %v (%+v)", err, m)
		}
		m2, err := eventbus.Unmarshal(again)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		if len(m.Metadata) == 0 {
			m.Metadata = nil
		}
		if !equalMessages(m, m2) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, m2)
		}
	})
}
