package eventbus_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

type orderCreated struct {
	OrderID string `json:"orderId"`
	Total   int    `json:"total"`
}

func TestNewMessageDecode(t *testing.T) {
	m, err := eventbus.NewMessage("order.created", orderCreated{OrderID: "o-1", Total: 42})
	if err != nil {
		t.Fatal(err)
	}
	if m.ID == "" || m.Type != "order.created" || m.DataContentType != eventbus.JSONContentType || m.Time.IsZero() {
		t.Fatalf("NewMessage = %+v", m)
	}
	got, err := eventbus.Decode[orderCreated](m)
	if err != nil || got != (orderCreated{OrderID: "o-1", Total: 42}) {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
}

func TestNewMessageErrors(t *testing.T) {
	if _, err := eventbus.NewMessage("order.*", 1); !errors.Is(err, eventbus.ErrInvalidMessage) {
		t.Errorf("invalid type: %v", err)
	}
	if _, err := eventbus.NewMessage("order.created", make(chan int)); err == nil {
		t.Error("unencodable payload: no error")
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		msg  *eventbus.Message
		is   error
	}{
		{"nil message", nil, eventbus.ErrInvalidMessage},
		{"not JSON content", &eventbus.Message{DataContentType: "application/protobuf", Data: []byte("{}")}, eventbus.ErrUnsupportedContentType},
		{"malformed JSON", &eventbus.Message{Data: []byte(`{"orderId":`)}, nil},
		{"wrong shape", &eventbus.Message{Data: []byte(`{"total":"many"}`)}, nil},
		{"empty data", &eventbus.Message{DataContentType: "application/json"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eventbus.Decode[orderCreated](tt.msg)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("error %v, want %v", err, tt.is)
			}
		})
	}
}

func TestDecodeContentTypes(t *testing.T) {
	for _, ct := range []string{"", "application/json", "application/json; charset=utf-8", "application/cloudevents+json", "Application/JSON"} {
		m := &eventbus.Message{DataContentType: ct, Data: []byte(`{"total":3}`)}
		if got, err := eventbus.Decode[orderCreated](m); err != nil || got.Total != 3 {
			t.Errorf("content type %q: %+v, %v", ct, got, err)
		}
	}
}

func TestNewID(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := eventbus.NewID()
		if !uuid.MatchString(id) {
			t.Fatalf("NewID() = %q, not a v4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestCloneIsDeep(t *testing.T) {
	m := &eventbus.Message{ID: "1", Type: "a.b", Data: []byte("xy"), Metadata: map[string]string{"k": "v"}, Time: time.Unix(1, 0)}
	c := m.Clone()
	c.Data[0] = 'z'
	c.Metadata["k"] = "changed"
	if string(m.Data) != "xy" || m.Metadata["k"] != "v" {
		t.Fatalf("Clone shares state: %+v", m)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		msg  *eventbus.Message
		ok   bool
	}{
		{"valid", &eventbus.Message{ID: "1", Type: "order.created"}, true},
		{"nil", nil, false},
		{"no id", &eventbus.Message{Type: "order.created"}, false},
		{"no type", &eventbus.Message{ID: "1"}, false},
		{"wildcard type", &eventbus.Message{ID: "1", Type: "order.>"}, false},
	}
	for _, tt := range tests {
		err := tt.msg.Validate()
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, eventbus.ErrInvalidMessage)) {
			t.Errorf("%s: Validate() = %v", tt.name, err)
		}
	}
}

// TestPublishEvent: one call builds the message and publishes it; a
// subscriber decodes the payload; an invalid type or payload publishes
// nothing.
func TestPublishEvent(t *testing.T) {
	bus := newBus(t)
	got := make(sink, 1)
	startRouter(t, bus, "billing", "order.created", got.handler)

	sent, err := eventbus.PublishEvent(ctxT(t), bus, "order.created", orderCreated{OrderID: "o-7", Total: 9})
	if err != nil {
		t.Fatal(err)
	}
	m := got.next(t)
	if m.ID != sent.ID || m.Type != "order.created" || m.DataContentType != eventbus.JSONContentType || m.Time.IsZero() {
		t.Fatalf("received %+v, published %+v", m, sent)
	}
	if e, err := eventbus.Decode[orderCreated](m); err != nil || e != (orderCreated{OrderID: "o-7", Total: 9}) {
		t.Fatalf("Decode = %+v, %v", e, err)
	}

	var calls int
	count := eventbus.PublisherFunc(func(context.Context, ...*eventbus.Message) error { calls++; return nil })
	if _, err := eventbus.PublishEvent(ctxT(t), count, "bad type!", 1); !errors.Is(err, eventbus.ErrInvalidMessage) {
		t.Errorf("invalid type: %v", err)
	}
	if _, err := eventbus.PublishEvent(ctxT(t), count, "a.b", func() {}); err == nil {
		t.Error("unencodable payload published")
	}
	if calls != 0 {
		t.Errorf("%d publishes of invalid events", calls)
	}
	if _, err := eventbus.PublishEvent(ctxT(t), nil, "a.b", 1); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Errorf("nil publisher: %v", err)
	}
	failing := eventbus.PublisherFunc(func(context.Context, ...*eventbus.Message) error { return eventbus.ErrClosed })
	if _, err := eventbus.PublishEvent(ctxT(t), failing, "a.b", 1); !errors.Is(err, eventbus.ErrClosed) {
		t.Errorf("publish error lost: %v", err)
	}
}

func TestIsJSONContentType(t *testing.T) {
	for ct, want := range map[string]bool{
		"":                                  true,
		"application/json":                  true,
		"Application/JSON; charset=utf-8":   true,
		"application/cloudevents+json":      true,
		"application/protobuf":              false,
		"text/plain":                        false,
		"application/jsonl":                 false,
		" application/vnd.api+json ; x=y  ": true,
	} {
		if got := eventbus.IsJSONContentType(ct); got != want {
			t.Errorf("IsJSONContentType(%q) = %v, want %v", ct, got, want)
		}
	}
}
