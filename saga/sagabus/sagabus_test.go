package sagabus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagabus"
)

// signaller records the last signal and answers err.
type signaller struct {
	key, eventType, payload string
	err                     error
}

func (s *signaller) Signal(_ context.Context, key, eventType string, payload []byte) error {
	s.key, s.eventType, s.payload = key, eventType, string(payload)
	return s.err
}

func TestHandler(t *testing.T) {
	errStore := errors.New("store down")
	tests := []struct {
		name      string
		data      string
		signalErr error
		wantErr   error // nil: acknowledged
		permanent bool
	}{
		{"delivered", `{"paymentId":"p-1"}`, nil, nil, false},
		{"wait over", `{"paymentId":"p-1"}`, fmt.Errorf("x: %w", saga.ErrSagaFinished), nil, false},
		{"store error retried", `{"paymentId":"p-1"}`, errStore, errStore, false},
		{"misconfigured", `{"paymentId":"p-1"}`, saga.ErrInvalidOption, saga.ErrInvalidOption, true},
		{"no key", `{"other":"p-1"}`, nil, sagabus.ErrNoKey, true},
		{"empty key", `{"paymentId":""}`, nil, sagabus.ErrNoKey, true},
		{"key not a string", `{"paymentId":7}`, nil, sagabus.ErrNoKey, true},
		{"not JSON", `pay`, nil, sagabus.ErrNoKey, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &signaller{err: tt.signalErr}
			h, err := sagabus.Handler(s, sagabus.JSONKey("paymentId"), sagabus.WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			err = h(context.Background(), &eventbus.Message{ID: "m", Type: "payment.confirmed", Data: []byte(tt.data)})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) || retry.IsPermanent(err) != tt.permanent {
				t.Fatalf("handler = %v (permanent %v), want %v (permanent %v)", err, retry.IsPermanent(err), tt.wantErr, tt.permanent)
			}
			if tt.wantErr == nil && (s.key != "p-1" || s.eventType != "payment.confirmed" || s.payload != tt.data) {
				t.Errorf("signalled %+v", s)
			}
		})
	}
	if _, err := sagabus.Handler(nil, sagabus.JSONKey("k")); !errors.Is(err, sagabus.ErrInvalidOption) {
		t.Errorf("nil signaller = %v", err)
	}
	if _, err := sagabus.Handler(&signaller{}, nil); !errors.Is(err, sagabus.ErrInvalidOption) {
		t.Errorf("nil key = %v", err)
	}
}
