package eventbus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// wireMessage is the CloudEvents 1.0 JSON structured format, plus a
// "metadata" extension object for Metadata.
type wireMessage struct {
	SpecVersion     string            `json:"specversion"`
	ID              string            `json:"id"`
	Type            string            `json:"type"`
	Source          string            `json:"source,omitempty"`
	Subject         string            `json:"subject,omitempty"`
	Time            string            `json:"time,omitempty"`
	DataContentType string            `json:"datacontenttype,omitempty"`
	Data            json.RawMessage   `json:"data,omitempty"`
	DataBase64      []byte            `json:"data_base64,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
}

// Marshal encodes msg in the CloudEvents JSON structured format, the wire
// encoding used where a whole envelope is stored in one value (an outbox
// row, a broker without headers). JSON data that is already compact is
// embedded as "data"; anything else is carried in "data_base64".
func Marshal(msg *Message) ([]byte, error) {
	if err := msg.Validate(); err != nil {
		return nil, fmt.Errorf("eventbus: marshal: %w", err)
	}
	w := wireMessage{
		SpecVersion:     "1.0",
		ID:              msg.ID,
		Type:            msg.Type,
		Source:          msg.Source,
		Subject:         msg.Subject,
		DataContentType: msg.DataContentType,
		Metadata:        msg.Metadata,
	}
	if !msg.Time.IsZero() {
		w.Time = msg.Time.Format(time.RFC3339Nano)
	}
	if len(msg.Data) > 0 {
		if IsJSONContentType(msg.DataContentType) && isCompactJSON(msg.Data) {
			w.Data = msg.Data
		} else {
			w.DataBase64 = msg.Data
		}
	}
	b, err := json.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("eventbus: marshal %s: %w", msg.ID, err)
	}
	return b, nil
}

func isCompactJSON(b []byte) bool {
	if !json.Valid(b) {
		return false
	}
	var buf bytes.Buffer
	buf.Grow(len(b))
	if json.Compact(&buf, b) != nil {
		return false
	}
	return bytes.Equal(buf.Bytes(), b)
}

// Unmarshal decodes a message written by Marshal (or any CloudEvents 1.0
// JSON structured event). Malformed input returns an error wrapping
// ErrInvalidMessage; it never panics.
func Unmarshal(b []byte) (*Message, error) {
	var w wireMessage
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("eventbus: unmarshal: %w: %w", ErrInvalidMessage, err)
	}
	if w.SpecVersion != "1.0" {
		return nil, fmt.Errorf("eventbus: unmarshal: %w: specversion %q", ErrInvalidMessage, w.SpecVersion)
	}
	if w.Data != nil && w.DataBase64 != nil {
		return nil, fmt.Errorf("eventbus: unmarshal: %w: both data and data_base64", ErrInvalidMessage)
	}
	msg := &Message{
		ID:              w.ID,
		Type:            w.Type,
		Source:          w.Source,
		Subject:         w.Subject,
		DataContentType: w.DataContentType,
		Metadata:        w.Metadata,
	}
	if w.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, w.Time)
		if err != nil {
			return nil, fmt.Errorf("eventbus: unmarshal: %w: time: %w", ErrInvalidMessage, err)
		}
		msg.Time = t
	}
	switch {
	case w.DataBase64 != nil:
		msg.Data = w.DataBase64
	case w.Data != nil:
		msg.Data = []byte(w.Data)
	}
	if err := msg.Validate(); err != nil {
		return nil, fmt.Errorf("eventbus: unmarshal: %w", err)
	}
	return msg, nil
}
