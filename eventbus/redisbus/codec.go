package redisbus

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// Field names of a stream entry: the CloudEvents attribute names, so that
// another client reading the stream finds the envelope under the names it
// knows, then one field per Metadata entry under metaPrefix plus its key.
const (
	fieldID          = "id"
	fieldType        = "type"
	fieldSource      = "source"
	fieldSubject     = "subject"
	fieldTime        = "time"
	fieldContentType = "datacontenttype"
	fieldData        = "data"
	metaPrefix       = "meta:"
)

// encode returns the field-value pairs of the stream entry of m, the
// values of XADD. Data goes as []byte, which the client writes without a
// copy.
func encode(m *eventbus.Message) []any {
	n := 6 + 2*len(m.Metadata) // id, type, data, then what is set:
	for _, v := range []string{m.Source, m.Subject, m.DataContentType} {
		if v != "" {
			n += 2
		}
	}
	if !m.Time.IsZero() {
		n += 2
	}
	vals := make([]any, 0, n)
	vals = append(vals, fieldID, m.ID, fieldType, m.Type)
	if m.Source != "" {
		vals = append(vals, fieldSource, m.Source)
	}
	if m.Subject != "" {
		vals = append(vals, fieldSubject, m.Subject)
	}
	if !m.Time.IsZero() {
		vals = append(vals, fieldTime, m.Time.Format(time.RFC3339Nano))
	}
	if m.DataContentType != "" {
		vals = append(vals, fieldContentType, m.DataContentType)
	}
	for k, v := range m.Metadata {
		vals = append(vals, metaPrefix+k, v)
	}
	// Data last: a reader that stops at the attributes never reads it.
	return append(vals, fieldData, m.Data)
}

// decode maps a stream entry back to an envelope. An entry without an id
// field (written by another producer) gets its stream entry ID.
func decode(entryID string, values map[string]any) (*eventbus.Message, error) {
	m := &eventbus.Message{ID: entryID}
	for k, raw := range values {
		v, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("%w: entry %s: field %q is not a string", eventbus.ErrInvalidMessage, entryID, k)
		}
		switch k {
		case fieldID:
			if v != "" {
				m.ID = v
			}
		case fieldType:
			m.Type = v
		case fieldSource:
			m.Source = v
		case fieldSubject:
			m.Subject = v
		case fieldContentType:
			m.DataContentType = v
		case fieldData:
			if v != "" {
				m.Data = []byte(v)
			}
		case fieldTime:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, fmt.Errorf("%w: entry %s: time: %w", eventbus.ErrInvalidMessage, entryID, err)
			}
			m.Time = t
		default:
			key, ok := strings.CutPrefix(k, metaPrefix)
			if !ok {
				continue // a field of another producer
			}
			if m.Metadata == nil {
				m.Metadata = make(map[string]string, len(values))
			}
			m.Metadata[key] = v
		}
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("entry %s: %w", entryID, err)
	}
	return m, nil
}

// entryType returns the event type of an entry without decoding the rest,
// so that a group skips entries of other types cheaply.
func entryType(values map[string]any) string {
	t, _ := values[fieldType].(string)
	return t
}
