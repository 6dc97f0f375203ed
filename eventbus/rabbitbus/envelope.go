package rabbitbus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// classicEnvelope is the body of a message in the classic domain-event
// shape that services written without this package publish and expect:
// the event's identity, type and time next to its JSON payload.
type classicEnvelope struct {
	EventID    string          `json:"eventId"`
	EventType  string          `json:"eventType"`
	OccurredAt string          `json:"occurredAt,omitempty"`
	Payload    json.RawMessage `json:"payload"`
}

// occurredAtLayout is how JavaScript's Date.prototype.toISOString writes a
// time, the form the other side of the classic envelope most often parses.
// The exact time travels in the ce-time header as well.
const occurredAtLayout = "2006-01-02T15:04:05.000Z"

// headerContentType keeps a payload's media type when the body is an
// envelope, whose own content type is application/json.
const headerContentType = "ce-datacontenttype"

// encode returns the AMQP publishing of msg, delivered as attempt, in the
// bus's body format.
func (b *Bus) encode(msg *eventbus.Message, attempt int) (amqp.Publishing, error) {
	p := encode(msg, attempt)
	if !b.cfg.classicEnvelope {
		return p, nil
	}
	payload := json.RawMessage(msg.Data)
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	if !eventbus.IsJSONContentType(msg.DataContentType) || !json.Valid(payload) {
		return p, fmt.Errorf("rabbitbus: encode %s: %w: the classic envelope needs JSON data, not %q",
			msg.ID, eventbus.ErrInvalidMessage, msg.DataContentType)
	}
	env := classicEnvelope{EventID: msg.ID, EventType: msg.Type, Payload: payload}
	if !msg.Time.IsZero() {
		env.OccurredAt = msg.Time.UTC().Format(occurredAtLayout)
	}
	body, err := json.Marshal(&env)
	if err != nil {
		return p, fmt.Errorf("rabbitbus: encode %s: %w", msg.ID, err)
	}
	if msg.DataContentType != "" && msg.DataContentType != eventbus.JSONContentType {
		if p.Headers == nil {
			p.Headers = make(amqp.Table, 1)
		}
		p.Headers[headerContentType] = msg.DataContentType
	}
	p.Body, p.ContentType = body, eventbus.JSONContentType
	return p, nil
}

// decode returns the message of a delivery and its attempt number. With
// the classic envelope, a body that is one (a JSON object with "eventType"
// and "payload") gives the ID, type, time and data; any other body is the
// data, as without it, so publishers of either kind are understood.
func (b *Bus) decode(d *amqp.Delivery) (*eventbus.Message, int, error) {
	if !b.cfg.classicEnvelope {
		return decode(d)
	}
	env, ok, err := parseEnvelope(d.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("rabbitbus: decode %s: %w", d.MessageId, err)
	}
	if !ok {
		return decode(d)
	}
	inner := *d
	inner.Body = env.Payload
	if bytes.Equal(env.Payload, []byte("null")) {
		inner.Body = nil
	}
	inner.ContentType = eventbus.JSONContentType
	if ct, ok := d.Headers[headerContentType].(string); ok {
		inner.ContentType = ct
	}
	if env.EventID != "" {
		inner.MessageId = env.EventID
	}
	if env.EventType != "" {
		inner.Type = env.EventType
	}
	msg, attempt, err := decode(&inner)
	if err != nil {
		return nil, 0, err
	}
	if msg.Time.IsZero() && env.OccurredAt != "" {
		t, err := time.Parse(time.RFC3339Nano, env.OccurredAt)
		if err != nil {
			return nil, 0, fmt.Errorf("rabbitbus: decode %s: %w: occurredAt: %w", msg.ID, eventbus.ErrInvalidMessage, err)
		}
		msg.Time = t
	}
	return msg, attempt, nil
}

// parseEnvelope reports whether body is a classic envelope and returns it.
// A JSON object with the envelope's keys whose values have the wrong types
// is an error; anything else is not an envelope.
func parseEnvelope(body []byte) (classicEnvelope, bool, error) {
	var env classicEnvelope
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return env, false, nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return env, false, nil
	}
	if _, ok := fields["eventType"]; !ok {
		return env, false, nil
	}
	if _, ok := fields["payload"]; !ok {
		return env, false, nil
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return env, false, fmt.Errorf("%w: classic envelope: %w", eventbus.ErrInvalidMessage, err)
	}
	return env, true, nil
}
