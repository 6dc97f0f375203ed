package rabbitbus

import (
	"encoding/json"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	amqp "github.com/rabbitmq/amqp091-go"
)

func classicBus() *Bus { return &Bus{cfg: config{classicEnvelope: true}} }

// TestClassicEnvelopeRoundTrip: with the classic envelope the body is
// {eventId, eventType, occurredAt, payload}, and decoding it (with the
// headers the bus sets) gives back the whole message, attempts included.
func TestClassicEnvelopeRoundTrip(t *testing.T) {
	msg := &eventbus.Message{
		ID: "id-1", Type: "order.created", Source: "/orders", Subject: "order-1",
		Time:            time.Date(2026, 1, 2, 3, 4, 5, 6_000_007, time.UTC),
		DataContentType: eventbus.JSONContentType, Data: []byte(`{"orderId":"o-1","total":42}`),
		Metadata: map[string]string{"traceparent": "00-x"},
	}
	b := classicBus()
	p, err := b.encode(msg, 3)
	if err != nil {
		t.Fatal(err)
	}
	if p.ContentType != eventbus.JSONContentType {
		t.Errorf("content type %q, want application/json", p.ContentType)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(p.Body, &body); err != nil {
		t.Fatalf("body %s is not a JSON object: %v", p.Body, err)
	}
	want := map[string]string{
		"eventId":    `"id-1"`,
		"eventType":  `"order.created"`,
		"occurredAt": `"2026-01-02T03:04:05.006Z"`,
		"payload":    `{"orderId":"o-1","total":42}`,
	}
	for k, v := range want {
		if string(body[k]) != v {
			t.Errorf("body[%s] = %s, want %s", k, body[k], v)
		}
	}
	if len(body) != len(want) {
		t.Errorf("body %s has other keys than %v", p.Body, want)
	}
	got, attempt, err := b.decode(delivered(p, false))
	if err != nil {
		t.Fatal(err)
	}
	if attempt != 3 || got.ID != msg.ID || got.Type != msg.Type || got.Source != msg.Source || got.Subject != msg.Subject ||
		!got.Time.Equal(msg.Time) || got.DataContentType != msg.DataContentType || string(got.Data) != string(msg.Data) ||
		!maps.Equal(got.Metadata, msg.Metadata) {
		t.Fatalf("decoded %+v attempt %d, want %+v attempt 3", got, attempt, msg)
	}

	// A +json payload keeps its media type; a message without data or time
	// has a null payload and no occurredAt.
	ce := &eventbus.Message{ID: "id-2", Type: "a.b", DataContentType: "application/cloudevents+json", Data: []byte(`[1]`)}
	p, err = b.encode(ce, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := b.decode(delivered(p, false)); err != nil || got.DataContentType != ce.DataContentType || string(got.Data) != "[1]" {
		t.Errorf("+json payload decoded as %+v, %v", got, err)
	}
	p, err = b.encode(&eventbus.Message{ID: "id-3", Type: "a.b"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Body) != `{"eventId":"id-3","eventType":"a.b","payload":null}` {
		t.Errorf("empty message body %s", p.Body)
	}
	if got, _, err := b.decode(delivered(p, false)); err != nil || got.Data != nil || !got.Time.IsZero() {
		t.Errorf("empty message decoded as %+v, %v", got, err)
	}
}

// TestClassicEnvelopeFromPlainClients: what a publisher that knows only
// the body sends (no message-id, no type, no headers) decodes from the
// envelope; a body that is no envelope is the data, as without the option.
func TestClassicEnvelopeFromPlainClients(t *testing.T) {
	b := classicBus()
	d := &amqp.Delivery{
		RoutingKey: "order.created",
		Body:       []byte(`{"eventId":"e-9","eventType":"order.created","occurredAt":"2026-03-04T05:06:07.089+01:00","payload":{"orderId":"o-9"}}`),
	}
	got, attempt, err := b.decode(d)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "e-9" || got.Type != "order.created" || attempt != 1 || string(got.Data) != `{"orderId":"o-9"}` ||
		!got.Time.Equal(time.Date(2026, 3, 4, 4, 6, 7, 89_000_000, time.UTC)) || got.DataContentType != eventbus.JSONContentType {
		t.Fatalf("decoded %+v attempt %d", got, attempt)
	}

	// Properties stand in for what the envelope lacks.
	got, _, err = b.decode(&amqp.Delivery{MessageId: "m-1", RoutingKey: "x.y", Body: []byte(`{"eventType":"","payload":1}`)})
	if err != nil || got.ID != "m-1" || got.Type != "x.y" || string(got.Data) != "1" {
		t.Errorf("envelope without id and type decoded as %+v, %v", got, err)
	}

	// Not an envelope: the body is the data.
	for _, body := range []string{`{"orderId":"o-1"}`, `[1,2]`, `plain text`, `{"eventType":"a.b"}`} {
		got, _, err := b.decode(&amqp.Delivery{MessageId: "m-2", Type: "a.b", ContentType: "application/json", Body: []byte(body)})
		if err != nil || string(got.Data) != body || got.ID != "m-2" {
			t.Errorf("body %s decoded as %+v, %v; want it as the data", body, got, err)
		}
	}

	// An envelope with values of the wrong type, or a bad time, is refused.
	for _, body := range []string{
		`{"eventId":1,"eventType":"a.b","payload":{}}`,
		`{"eventId":"e","eventType":"a.b","occurredAt":"yesterday","payload":{}}`,
		`{"eventId":"e","eventType":"a..b","payload":{}}`,
		`{"eventType":"a.b","payload":{}}`, // no ID anywhere
	} {
		if got, _, err := b.decode(&amqp.Delivery{RoutingKey: "a.b", Body: []byte(body)}); !errors.Is(err, eventbus.ErrInvalidMessage) {
			t.Errorf("body %s decoded as %+v, %v; want ErrInvalidMessage", body, got, err)
		}
	}
}

// TestClassicEnvelopeNeedsJSON: a payload that is not JSON cannot be put
// in the envelope, and Publish says so rather than sending a body the
// other side cannot read.
func TestClassicEnvelopeNeedsJSON(t *testing.T) {
	b := classicBus()
	for name, m := range map[string]*eventbus.Message{
		"protobuf":     {ID: "1", Type: "a.b", DataContentType: "application/protobuf", Data: []byte{1, 2}},
		"invalid JSON": {ID: "1", Type: "a.b", Data: []byte("{")},
	} {
		if _, err := b.encode(m, 1); !errors.Is(err, eventbus.ErrInvalidMessage) {
			t.Errorf("%s: encode = %v, want ErrInvalidMessage", name, err)
		}
	}
	// Without the option any data goes, as the body.
	p, err := (&Bus{}).encode(&eventbus.Message{ID: "1", Type: "a.b", DataContentType: "application/protobuf", Data: []byte{1, 2}}, 1)
	if err != nil || string(p.Body) != "\x01\x02" {
		t.Errorf("plain encode = %q, %v", p.Body, err)
	}
}
