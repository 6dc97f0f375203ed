package rabbitbus

import (
	"fmt"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Header names of the envelope attributes that have no AMQP property.
const (
	headerSource   = "ce-source"
	headerSubject  = "ce-subject"
	headerTime     = "ce-time"
	headerMetadata = "microkit-metadata"
	// HeaderAttempt is the header that counts deliveries across the
	// republishes of Nack: a message published by Publish has none (attempt
	// 1), and each Nack republishes it with the next number.
	HeaderAttempt = "microkit-attempt"
)

// encode returns the AMQP publishing of msg, the attempt it will be
// delivered as (1 for a fresh publish).
func encode(msg *eventbus.Message, attempt int) amqp.Publishing {
	var h amqp.Table // allocated only for a message that needs headers
	set := func(k string, v any) {
		if h == nil {
			h = make(amqp.Table, 5)
		}
		h[k] = v
	}
	if msg.Source != "" {
		set(headerSource, msg.Source)
	}
	if msg.Subject != "" {
		set(headerSubject, msg.Subject)
	}
	if !msg.Time.IsZero() {
		set(headerTime, msg.Time.UTC().Format(time.RFC3339Nano))
	}
	if len(msg.Metadata) > 0 {
		md := make(amqp.Table, len(msg.Metadata))
		for k, v := range msg.Metadata {
			md[k] = v
		}
		set(headerMetadata, md)
	}
	if attempt > 1 {
		set(HeaderAttempt, int32(attempt))
	}
	p := amqp.Publishing{
		Headers:      h,
		ContentType:  msg.DataContentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    msg.ID,
		Type:         msg.Type,
		Body:         msg.Data,
	}
	if !msg.Time.IsZero() {
		p.Timestamp = msg.Time
	}
	return p
}

// decode returns the message of an AMQP delivery and its attempt number.
// A delivery the broker flags as redelivered (its consumer died or closed
// before settling it) counts one more attempt than its header says.
func decode(d *amqp.Delivery) (*eventbus.Message, int, error) {
	msg := &eventbus.Message{
		ID:              d.MessageId,
		Type:            d.Type,
		DataContentType: d.ContentType,
	}
	if len(d.Body) > 0 {
		msg.Data = d.Body
	}
	if msg.Type == "" {
		msg.Type = d.RoutingKey
	}
	msg.Source, _ = d.Headers[headerSource].(string)
	msg.Subject, _ = d.Headers[headerSubject].(string)
	if s, ok := d.Headers[headerTime].(string); ok {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, 0, fmt.Errorf("rabbitbus: decode %s: %w: time: %w", msg.ID, eventbus.ErrInvalidMessage, err)
		}
		msg.Time = t
	}
	if md, ok := d.Headers[headerMetadata].(amqp.Table); ok && len(md) > 0 {
		msg.Metadata = make(map[string]string, len(md))
		for k, v := range md {
			s, ok := v.(string)
			if !ok {
				return nil, 0, fmt.Errorf("rabbitbus: decode %s: %w: metadata %q is %T, not a string", msg.ID, eventbus.ErrInvalidMessage, k, v)
			}
			msg.Metadata[k] = s
		}
	}
	attempt, _ := intHeader(d.Headers, HeaderAttempt)
	attempt = max(attempt, 1)
	// Quorum queues count the deliveries their consumers returned (a
	// crash, a closed channel) in x-delivery-count, so a message that
	// kills every consumer still reaches its last attempt; classic queues
	// only flag the delivery as redelivered, which counts one.
	if returned, ok := intHeader(d.Headers, headerDeliveryCount); ok && returned > 0 {
		attempt += returned
	} else if d.Redelivered {
		attempt++
	}
	if err := msg.Validate(); err != nil {
		return nil, 0, fmt.Errorf("rabbitbus: decode: %w", err)
	}
	return msg, attempt, nil
}

// BindingKey returns the AMQP topic binding key of an eventbus pattern:
// "*" matches one word in both, and ">" (one or more trailing tokens)
// becomes "#" (zero or more words). The one word of difference ("a.>"
// does not match "a" but "a.#" does) is filtered on delivery.
func BindingKey(pattern string) string {
	if pattern == ">" {
		return "#"
	}
	if len(pattern) >= 2 && pattern[len(pattern)-2:] == ".>" {
		return pattern[:len(pattern)-1] + "#"
	}
	return pattern
}

// headerDeliveryCount is the header in which quorum queues count a
// message's returned deliveries.
const headerDeliveryCount = "x-delivery-count"

// intHeader reads an AMQP integer header of any width.
func intHeader(h amqp.Table, key string) (int, bool) {
	switch n := h[key].(type) {
	case int64:
		return int(n), true
	case int32:
		return int(n), true
	case int16:
		return int(n), true
	case int8:
		return int(n), true
	case uint8:
		return int(n), true
	case uint16:
		return int(n), true
	case uint32:
		return int(n), true
	}
	return 0, false
}
