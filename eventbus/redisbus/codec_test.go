package redisbus

import (
	"bytes"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// fieldMap turns XADD's field-value pairs into what XREADGROUP returns.
func fieldMap(vals []any) map[string]any {
	m := make(map[string]any, len(vals)/2)
	for i := 0; i < len(vals); i += 2 {
		switch v := vals[i+1].(type) {
		case []byte:
			m[vals[i].(string)] = string(v)
		default:
			m[vals[i].(string)] = v
		}
	}
	return m
}

func TestCodecRoundTrip(t *testing.T) {
	for _, m := range []*eventbus.Message{
		{
			ID: "id-1", Type: "order.created", Source: "/orders", Subject: "o-1",
			Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), DataContentType: "application/json",
			Data: []byte(`{"a":1}`), Metadata: map[string]string{"traceparent": "00-x", "correlation-id": "c", "data": "not the data"},
		},
		{ID: "id-2", Type: "a"},
	} {
		got, err := decode("1-1", fieldMap(encode(m)))
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != m.ID || got.Type != m.Type || got.Source != m.Source || got.Subject != m.Subject ||
			!got.Time.Equal(m.Time) || got.DataContentType != m.DataContentType || !bytes.Equal(got.Data, m.Data) ||
			!maps.Equal(got.Metadata, m.Metadata) {
			t.Fatalf("round trip %+v, want %+v", got, m)
		}
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fields  map[string]any
		wantID  string
		wantErr bool
	}{
		{"foreign producer without id", map[string]any{"type": "a.b", "other": "x"}, "7-0", false},
		{"no type", map[string]any{"id": "x"}, "", true},
		{"wildcard type", map[string]any{"id": "x", "type": "a.*"}, "", true},
		{"bad time", map[string]any{"id": "x", "type": "a", "time": "noon"}, "", true},
		{"not a string", map[string]any{"id": "x", "type": "a", "data": int64(1)}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := decode("7-0", tc.fields)
			if tc.wantErr {
				if !errors.Is(err, eventbus.ErrInvalidMessage) {
					t.Fatalf("decode error %v, want ErrInvalidMessage", err)
				}
				return
			}
			if err != nil || m.ID != tc.wantID {
				t.Fatalf("decode = %+v, %v; want ID %s", m, err, tc.wantID)
			}
		})
	}
}

func TestStreamID(t *testing.T) {
	for _, tc := range []struct{ id, next string }{
		{"0-0", "0-1"},
		{"1700000000000-5", "1700000000000-6"},
		{"5-18446744073709551615", "6-0"},
		{"12", "12-1"},
	} {
		id, err := parseID(tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if got := id.next().String(); got != tc.next {
			t.Errorf("next(%s) = %s, want %s", tc.id, got, tc.next)
		}
		if !id.less(id.next()) || id.next().less(id) {
			t.Errorf("%s is not less than its next", tc.id)
		}
	}
	if _, err := parseID("x-1"); err == nil {
		t.Error("parsed x-1")
	}
}

// FuzzDecode: decode never panics, and what it accepts encodes and decodes
// back to the same message.
func FuzzDecode(f *testing.F) {
	f.Add("id-1", "order.created", "2026-01-02T03:04:05Z", "traceparent", "00-abc", []byte(`{}`))
	f.Add("", "", "", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, id, typ, tm, key, val string, data []byte) {
		fields := map[string]any{"id": id, "type": typ, "data": string(data), metaPrefix + key: val}
		if tm != "" {
			fields["time"] = tm
		}
		m, err := decode("1-0", fields)
		if err != nil {
			return
		}
		again, err := decode("1-0", fieldMap(encode(m)))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if again.ID != m.ID || again.Type != m.Type || !again.Time.Equal(m.Time) || !bytes.Equal(again.Data, m.Data) || !maps.Equal(again.Metadata, m.Metadata) {
			t.Fatalf("round trip %+v, want %+v", again, m)
		}
	})
}
