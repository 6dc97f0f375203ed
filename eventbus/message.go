package eventbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"
)

// JSONContentType is the DataContentType of messages built by NewMessage.
const JSONContentType = "application/json"

// Message is the envelope of one event. Its attributes follow CloudEvents
// 1.0 so that the envelope maps one to one onto other event systems.
//
// A Message is not safe for concurrent mutation; adapters copy it when it is
// published, so the caller may reuse it once Publish returns.
type Message struct {
	// ID identifies the event; brokers deduplicate on it and the inbox
	// middleware keys on it. Required.
	ID string
	// Type is the event type and routing key, e.g. "order.created".
	// Required; see ValidateType.
	Type string
	// Source names the producer, e.g. "/orders". Optional.
	Source string
	// Subject is the aggregate the event is about, e.g. the order id.
	// Adapters that order deliveries order them per Subject. Optional.
	Subject string
	// Time is when the event occurred. The zero value means unknown.
	Time time.Time
	// DataContentType is the media type of Data; empty means
	// application/json.
	DataContentType string
	// Data is the payload.
	Data []byte
	// Metadata carries transport attributes: trace context, correlation id,
	// dead-letter reason. Keys are case-sensitive.
	Metadata map[string]string
}

// NewMessage returns a message of the given type whose Data is payload
// encoded as JSON, with a fresh random ID and the current time.
func NewMessage(eventType string, payload any) (*Message, error) {
	if err := ValidateType(eventType); err != nil {
		return nil, err
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("eventbus: new message %s: %w", eventType, err)
	}
	return &Message{
		ID:              NewID(),
		Type:            eventType,
		Time:            time.Now().UTC(),
		DataContentType: JSONContentType,
		Data:            data,
	}, nil
}

// PublishEvent publishes one event in one call through pub, any adapter
// or decorated publisher: a message built by NewMessage (eventType, payload
// as JSON, a fresh ID, the current time). It returns the message it
// published, for its ID. An event that needs a Subject, a Source or
// Metadata is built with NewMessage and published with Publish.
func PublishEvent(ctx context.Context, pub Publisher, eventType string, payload any) (*Message, error) {
	if pub == nil {
		return nil, fmt.Errorf("eventbus: publish event %s: %w: nil publisher", eventType, ErrInvalidOption)
	}
	msg, err := NewMessage(eventType, payload)
	if err != nil {
		return nil, err
	}
	if err := pub.Publish(ctx, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// Decode unmarshals the JSON payload of msg into a T. It returns an error,
// never panics, when msg is nil, its content type is not JSON or its data is
// not a valid T.
func Decode[T any](msg *Message) (T, error) {
	var v T
	if msg == nil {
		return v, fmt.Errorf("eventbus: decode: %w: nil message", ErrInvalidMessage)
	}
	if !IsJSONContentType(msg.DataContentType) {
		return v, fmt.Errorf("eventbus: decode %s %s: %w: %q", msg.Type, msg.ID, ErrUnsupportedContentType, msg.DataContentType)
	}
	if err := json.Unmarshal(msg.Data, &v); err != nil {
		return v, fmt.Errorf("eventbus: decode %s %s: %w", msg.Type, msg.ID, err)
	}
	return v, nil
}

// IsJSONContentType reports whether a DataContentType is JSON: empty,
// application/json or any +json media type, whatever its parameters. Decode
// accepts exactly these.
func IsJSONContentType(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == JSONContentType || strings.HasSuffix(mt, "+json")
}

// NewID returns a random version 4 UUID, the default message ID.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// Validate reports whether msg can be published: it needs an ID and a valid
// Type.
func (m *Message) Validate() error {
	if m == nil {
		return fmt.Errorf("%w: nil message", ErrInvalidMessage)
	}
	if m.ID == "" {
		return fmt.Errorf("%w: empty ID (type %q)", ErrInvalidMessage, m.Type)
	}
	return ValidateType(m.Type)
}

// Clone returns a deep copy of msg.
func (m *Message) Clone() *Message {
	c := *m
	if m.Data != nil {
		c.Data = append(make([]byte, 0, len(m.Data)), m.Data...)
	}
	if m.Metadata != nil {
		c.Metadata = maps.Clone(m.Metadata)
	}
	return &c
}

// SetMetadata sets one metadata entry, allocating the map if needed.
func (m *Message) SetMetadata(key, value string) {
	if m.Metadata == nil {
		m.Metadata = make(map[string]string, 4)
	}
	m.Metadata[key] = value
}
