package natsbus

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Header names of the envelope, in CloudEvents' NATS binary mode; metadata
// entries travel as headers under their own names. The type is the subject
// after the prefix, so it takes no header: each header costs every message
// its bytes on the wire and in the stream.
const (
	headerSource      = "ce-source"
	headerSubject     = "ce-subject"
	headerTime        = "ce-time"
	headerContentType = "content-type"
)

func reservedHeader(k string) bool {
	lk := strings.ToLower(k)
	return strings.HasPrefix(lk, "ce-") || lk == headerContentType || strings.HasPrefix(lk, "nats-")
}

// encode maps msg to a NATS message on "<prefix>.<type>".
func encode(prefix string, m *eventbus.Message) (*nats.Msg, error) {
	for _, v := range []string{m.ID, m.Source, m.Subject, m.DataContentType} {
		if !validValue(v) {
			return nil, fmt.Errorf("%w: %s: attribute %q not encodable as a header", eventbus.ErrInvalidMessage, m.ID, v)
		}
	}
	n := 1 + len(m.Metadata) // Nats-Msg-Id, metadata, then what is set:
	for _, v := range []string{m.Source, m.Subject, m.DataContentType} {
		if v != "" {
			n++
		}
	}
	if !m.Time.IsZero() {
		n++
	}
	// One backing array for every header value: a publish is on the hot
	// path and each []string{v} would be an allocation of its own.
	vals := make([]string, 0, n)
	h := make(nats.Header, n)
	set := func(k, v string) {
		vals = append(vals, v)
		h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	set(jetstream.MsgIDHeader, msgID(m.ID, m.Metadata[eventbus.MetaReplay]))
	if m.Source != "" {
		set(headerSource, m.Source)
	}
	if m.Subject != "" {
		set(headerSubject, m.Subject)
	}
	if !m.Time.IsZero() {
		set(headerTime, m.Time.Format(time.RFC3339Nano))
	}
	if m.DataContentType != "" {
		set(headerContentType, m.DataContentType)
	}
	for k, v := range m.Metadata {
		if reservedHeader(k) || !validKey(k) || !validValue(v) {
			return nil, fmt.Errorf("%w: %s: metadata %q=%q not encodable as a header", eventbus.ErrInvalidMessage, m.ID, k, v)
		}
		set(k, v)
	}
	return &nats.Msg{Subject: prefix + "." + m.Type, Header: h, Data: m.Data}, nil
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c == ':' || c == 0x7f {
			return false
		}
	}
	return true
}

func validValue(v string) bool {
	return !strings.ContainsAny(v, "\r\n")
}

// decode maps a NATS message back to an envelope; its type is the subject
// after the prefix. id is used when the message carries no Nats-Msg-Id
// (published by a foreign producer).
func decode(prefix, subject string, h nats.Header, data []byte, id string) (*eventbus.Message, error) {
	m := &eventbus.Message{ID: id, Data: data}
	typ, ok := strings.CutPrefix(subject, prefix+".")
	if !ok {
		return nil, fmt.Errorf("%w: subject %q outside prefix %q", eventbus.ErrInvalidMessage, subject, prefix)
	}
	m.Type = typ
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		v := vs[0]
		switch k {
		case jetstream.MsgIDHeader:
			if v != "" {
				m.ID = v
			}
		case headerSource:
			m.Source = v
		case headerSubject:
			m.Subject = v
		case headerContentType:
			m.DataContentType = v
		case headerTime:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, fmt.Errorf("%w: %s header: %w", eventbus.ErrInvalidMessage, headerTime, err)
			}
			m.Time = t
		default:
			if reservedHeader(k) {
				continue
			}
			if m.Metadata == nil {
				m.Metadata = make(map[string]string, len(h))
			}
			m.Metadata[k] = v
		}
	}
	if r := m.Metadata[eventbus.MetaReplay]; r != "" {
		m.ID = strings.TrimSuffix(m.ID, replaySeparator+r)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// replaySeparator joins a replayed message's ID and its eventbus.MetaReplay
// value in its Nats-Msg-Id: JetStream would drop a replay inside its
// duplicate window as a copy of the original otherwise. decode strips it.
const replaySeparator = "/replay/"

func msgID(id, replay string) string {
	if replay == "" {
		return id
	}
	return id + replaySeparator + replay
}
