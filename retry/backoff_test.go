package retry_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/go-microkit/microkit/retry"
)

func TestBackoffDelayWithoutJitter(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		name string
		b    retry.Backoff
		want []time.Duration // for attempts 1, 2, ...
	}{
		{"defaults", retry.Backoff{Jitter: retry.NoJitter},
			[]time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 10 * time.Second, 10 * time.Second}},
		{"capped", retry.Backoff{Initial: 50 * ms, Max: 300 * ms, Jitter: retry.NoJitter},
			[]time.Duration{50 * ms, 100 * ms, 200 * ms, 300 * ms, 300 * ms}},
		{"multiplier 1.5", retry.Backoff{Initial: 100 * ms, Multiplier: 1.5, Jitter: retry.NoJitter},
			[]time.Duration{100 * ms, 150 * ms, 225 * ms}},
		{"constant", retry.Backoff{Initial: 20 * ms, Multiplier: 1, Jitter: retry.NoJitter},
			[]time.Duration{20 * ms, 20 * ms, 20 * ms}},
		{"initial above the default max", retry.Backoff{Initial: time.Minute, Jitter: retry.NoJitter},
			[]time.Duration{time.Minute, time.Minute}},
	} {
		for i, want := range tt.want {
			if got := tt.b.Delay(i + 1); got != want {
				t.Errorf("%s: Delay(%d) = %v, want %v", tt.name, i+1, got, want)
			}
		}
	}
	b := retry.Backoff{Jitter: retry.NoJitter}
	if b.Delay(0) != b.Delay(1) || b.Delay(-5) != b.Delay(1) {
		t.Error("an attempt below 1 does not count as 1")
	}
	if got := b.Delay(math.MaxInt); got != 10*time.Second {
		t.Errorf("Delay(MaxInt) = %v, want the cap", got)
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	for _, tt := range []struct {
		jitter   retry.Jitter
		min, max time.Duration
	}{
		{retry.FullJitter, 0, 800 * time.Millisecond},
		{retry.EqualJitter, 400 * time.Millisecond, 800 * time.Millisecond},
	} {
		b := retry.Backoff{Initial: 100 * time.Millisecond, Jitter: tt.jitter}
		seen := map[time.Duration]bool{}
		for range 1000 {
			d := b.Delay(4) // 800ms before jitter
			if d < tt.min || d > tt.max {
				t.Fatalf("%v jitter: Delay(4) = %v, want in [%v, %v]", tt.jitter, d, tt.min, tt.max)
			}
			seen[d] = true
		}
		if len(seen) < 100 {
			t.Errorf("%v jitter: only %d distinct delays in 1000", tt.jitter, len(seen))
		}
	}
}

func TestBackoffValidate(t *testing.T) {
	valid := []retry.Backoff{{}, {Initial: time.Second, Max: time.Second, Multiplier: 1, Jitter: retry.EqualJitter}}
	for _, b := range valid {
		if err := b.Validate(); err != nil {
			t.Errorf("%+v: %v", b, err)
		}
	}
	for name, b := range map[string]retry.Backoff{
		"negative initial":   {Initial: -time.Second},
		"negative max":       {Max: -time.Second},
		"max below initial":  {Initial: time.Second, Max: time.Millisecond},
		"multiplier below 1": {Multiplier: 0.5},
		"multiplier NaN":     {Multiplier: math.NaN()},
		"unknown jitter":     {Jitter: retry.Jitter(7)},
	} {
		if err := b.Validate(); !errors.Is(err, retry.ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
		_ = b.Delay(3) // never panics
	}
}
