package rabbitbus

import (
	"errors"
	"fmt"
	"maps"
	"syscall"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	amqp "github.com/rabbitmq/amqp091-go"
)

func TestBindingKey(t *testing.T) {
	for _, tc := range []struct{ pattern, want string }{
		{"order.created", "order.created"},
		{"order.*", "order.*"},
		{"*.created", "*.created"},
		{"order.>", "order.#"},
		{">", "#"},
		{"a.*.>", "a.*.#"},
	} {
		if got := BindingKey(tc.pattern); got != tc.want {
			t.Errorf("BindingKey(%q) = %q, want %q", tc.pattern, got, tc.want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{0, time.Millisecond},
		{time.Microsecond, time.Millisecond},
		{3 * time.Millisecond, 3 * time.Millisecond},
		{10 * time.Millisecond, 10 * time.Millisecond},
		{11 * time.Millisecond, 12 * time.Millisecond},
		{time.Second, 1024 * time.Millisecond},
		{1100 * time.Millisecond, 1280 * time.Millisecond},
		{1500 * time.Millisecond, 1536 * time.Millisecond},
	} {
		got := RetryDelay(tc.in)
		if got != tc.want {
			t.Errorf("RetryDelay(%s) = %s, want %s", tc.in, got, tc.want)
		}
		if got < tc.in || (tc.in > 4*time.Millisecond && got > tc.in*5/4+time.Millisecond) {
			t.Errorf("RetryDelay(%s) = %s is not within a quarter above", tc.in, got)
		}
	}
}

// delivered turns a publishing into the delivery a consumer would get.
func delivered(p amqp.Publishing, redelivered bool) *amqp.Delivery {
	return &amqp.Delivery{
		Headers: p.Headers, ContentType: p.ContentType, MessageId: p.MessageId, Type: p.Type,
		Timestamp: p.Timestamp, Body: p.Body, Redelivered: redelivered, RoutingKey: p.Type,
	}
}

func TestCodecRoundTrip(t *testing.T) {
	msg := &eventbus.Message{
		ID: "id-1", Type: "order.created", Source: "/orders", Subject: "order-1",
		Time:            time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		DataContentType: eventbus.JSONContentType, Data: []byte(`{"a":1}`),
		Metadata: map[string]string{"traceparent": "00-x", "k": "v"},
	}
	for _, tc := range []struct {
		attempt     int
		redelivered bool
		want        int
	}{{1, false, 1}, {1, true, 2}, {3, false, 3}, {3, true, 4}} {
		got, attempt, err := decode(delivered(encode(msg, tc.attempt), tc.redelivered))
		if err != nil {
			t.Fatal(err)
		}
		if attempt != tc.want {
			t.Errorf("attempt %d redelivered %v decoded as %d, want %d", tc.attempt, tc.redelivered, attempt, tc.want)
		}
		if got.ID != msg.ID || got.Type != msg.Type || got.Source != msg.Source || got.Subject != msg.Subject ||
			!got.Time.Equal(msg.Time) || got.DataContentType != msg.DataContentType || string(got.Data) != string(msg.Data) ||
			!maps.Equal(got.Metadata, msg.Metadata) {
			t.Fatalf("decoded %+v, want %+v", got, msg)
		}
	}
}

// Quorum queues count returned deliveries in x-delivery-count: a message
// redelivered after several consumer crashes counts each of them.
func TestDecodeDeliveryCount(t *testing.T) {
	msg := &eventbus.Message{ID: "id-1", Type: "order.created"}
	for _, tc := range []struct {
		name        string
		attempt     int
		redelivered bool
		count       any // x-delivery-count, nil for none
		want        int
	}{
		{"classic queue, one crash", 1, true, nil, 2},
		{"quorum queue, three crashes", 1, true, int64(3), 4},
		{"quorum queue after two nacks and a crash", 3, true, int64(1), 4},
		{"quorum queue, narrow integer", 2, true, int32(2), 4},
		{"count zero falls back to the flag", 1, true, int64(0), 2},
		{"first delivery", 1, false, nil, 1},
	} {
		d := delivered(encode(msg, tc.attempt), tc.redelivered)
		d.Headers = maps.Clone(d.Headers)
		if d.Headers == nil {
			d.Headers = amqp.Table{}
		}
		if tc.count != nil {
			d.Headers["x-delivery-count"] = tc.count
		}
		_, attempt, err := decode(d)
		if err != nil {
			t.Fatal(err)
		}
		if attempt != tc.want {
			t.Errorf("%s: attempt %d, want %d", tc.name, attempt, tc.want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, d := range map[string]*amqp.Delivery{
		"no id":          {Type: "a.b"},
		"bad type":       {MessageId: "x", Type: "a..b"},
		"bad time":       {MessageId: "x", Type: "a", Headers: amqp.Table{headerTime: "yesterday"}},
		"metadata ints":  {MessageId: "x", Type: "a", Headers: amqp.Table{headerMetadata: amqp.Table{"k": int32(1)}}},
		"no type or key": {MessageId: "x"},
	} {
		if _, _, err := decode(d); err == nil {
			t.Errorf("%s: decode succeeded, want an error", name)
		}
	}
}

// FuzzDecode feeds decode arbitrary property and header values: it must
// return a valid message or an error, never panic.
func FuzzDecode(f *testing.F) {
	f.Add("id", "order.created", "application/json", []byte(`{}`), "2026-01-02T03:04:05Z", "subj", int32(2), true)
	f.Add("", "", "", []byte(nil), "", "", int32(-5), false)
	f.Add("x", "a.>", "text/plain", []byte{0xff}, "not a time", "", int32(0), true)
	f.Fuzz(func(t *testing.T, id, typ, ct string, body []byte, tm, subj string, attempt int32, redelivered bool) {
		d := &amqp.Delivery{MessageId: id, Type: typ, ContentType: ct, Body: body, Redelivered: redelivered,
			Headers: amqp.Table{headerTime: tm, headerSubject: subj, HeaderAttempt: attempt}}
		msg, n, err := decode(d)
		if err != nil {
			return
		}
		if msg.Validate() != nil || n < 1 {
			t.Fatalf("decode returned an invalid message %+v attempt %d", msg, n)
		}
	})
}

func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{amqp.ErrClosed, true},
		{&amqp.Error{Code: amqp.ConnectionForced, Reason: "shutdown"}, true},
		{&amqp.Error{Code: amqp.PreconditionFailed, Reason: "inequivalent arg"}, false},
		{&amqp.Error{Code: amqp.AccessRefused, Reason: "login refused"}, false},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{errors.New("bad url"), false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
