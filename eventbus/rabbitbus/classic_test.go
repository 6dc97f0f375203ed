package rabbitbus_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/rabbitbus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// TestClassicEnvelopeWithPlainClients runs WithClassicEnvelope against
// plain amqp091 clients on the real broker: what a service that knows only
// the classic body publishes is consumed (and nacked and redelivered) as
// an eventbus message, and what the bus publishes is read by a consumer
// that knows only that body.
func TestClassicEnvelopeWithPlainClients(t *testing.T) {
	br := newBroker(t)
	b := br.dial(t, rabbitbus.WithClassicEnvelope(), rabbitbus.WithPrefetch(1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, err := br.subscriber(b).Subscribe(ctx, "legacy", "order.*")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	ch := br.plainChannel(t)

	// A plain publisher: the envelope in the body, no message-id, no type,
	// no headers.
	body := `{"eventId":"e-1","eventType":"order.created","occurredAt":"2026-05-06T07:08:09.010Z","payload":{"orderId":"o-1","total":42}}`
	if err := ch.PublishWithContext(ctx, br.exchange, "order.created", false, false, amqp.Publishing{
		ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: []byte(body),
	}); err != nil {
		t.Fatal(err)
	}
	type orderCreated struct {
		OrderID string `json:"orderId"`
		Total   int    `json:"total"`
	}
	check := func(d eventbus.Delivery, attempt int) {
		t.Helper()
		m := d.Message()
		if m.ID != "e-1" || m.Type != "order.created" || d.Attempt() != attempt ||
			!m.Time.Equal(time.Date(2026, 5, 6, 7, 8, 9, 10_000_000, time.UTC)) {
			t.Fatalf("delivery %+v attempt %d, want e-1 order.created at its occurredAt, attempt %d", m, d.Attempt(), attempt)
		}
		if e, err := eventbus.Decode[orderCreated](m); err != nil || e != (orderCreated{"o-1", 42}) {
			t.Fatalf("payload decoded as %+v, %v", e, err)
		}
	}
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check(d, 1)
	// Nack republishes it (as an envelope again) and it comes back whole.
	if err := d.Nack(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if d, err = sub.Next(ctx); err != nil {
		t.Fatal(err)
	}
	check(d, 2)
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}

	// A plain consumer reads what the bus publishes.
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, "order.#", br.exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := eventbus.PublishEvent(ctx, b, "order.paid", orderCreated{"o-2", 7})
	if err != nil {
		t.Fatal(err)
	}
	var raw amqp.Delivery
	select {
	case raw = <-deliveries:
	case <-ctx.Done():
		t.Fatal("the plain consumer got nothing")
	}
	var env struct {
		EventID    string       `json:"eventId"`
		EventType  string       `json:"eventType"`
		OccurredAt time.Time    `json:"occurredAt"`
		Payload    orderCreated `json:"payload"`
	}
	if err := json.Unmarshal(raw.Body, &env); err != nil {
		t.Fatalf("body %s: %v", raw.Body, err)
	}
	if env.EventID != sent.ID || env.EventType != "order.paid" || env.Payload != (orderCreated{"o-2", 7}) ||
		env.OccurredAt.Sub(sent.Time).Abs() >= time.Millisecond || raw.ContentType != "application/json" {
		t.Fatalf("plain consumer read %+v (content type %q), want the envelope of %+v", env, raw.ContentType, sent)
	}
	// The consumer group gets it too, ID and time exact.
	if d, err = sub.Next(ctx); err != nil {
		t.Fatal(err)
	}
	if d.Message().ID != sent.ID || !d.Message().Time.Equal(sent.Time) {
		t.Fatalf("group got %+v, want %+v", d.Message(), sent)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
}
