package eventbus_test

import (
	"errors"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
)

// TestNewSubscribeSettings: an explicit prefetch must be positive; only
// leaving the option out selects the adapter's default (zero).
func TestNewSubscribeSettings(t *testing.T) {
	tests := []struct {
		name    string
		opts    []eventbus.SubscribeOption
		want    int
		invalid bool
	}{
		{"no option: adapter default", nil, 0, false},
		{"positive", []eventbus.SubscribeOption{eventbus.WithPrefetch(8)}, 8, false},
		{"last one wins", []eventbus.SubscribeOption{eventbus.WithPrefetch(8), eventbus.WithPrefetch(3)}, 3, false},
		{"zero", []eventbus.SubscribeOption{eventbus.WithPrefetch(0)}, 0, true},
		{"minus one", []eventbus.SubscribeOption{eventbus.WithPrefetch(-1)}, 0, true},
		{"negative", []eventbus.SubscribeOption{eventbus.WithPrefetch(-64)}, 0, true},
		{"valid then invalid", []eventbus.SubscribeOption{eventbus.WithPrefetch(8), eventbus.WithPrefetch(-1)}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := eventbus.NewSubscribeSettings(tt.opts...)
			if tt.invalid {
				if !errors.Is(err, eventbus.ErrInvalidOption) {
					t.Fatalf("NewSubscribeSettings = %+v, %v; want ErrInvalidOption", s, err)
				}
				return
			}
			if err != nil || s.Prefetch != tt.want {
				t.Fatalf("NewSubscribeSettings = %+v, %v; want prefetch %d", s, err, tt.want)
			}
		})
	}
}
