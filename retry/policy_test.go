package retry_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-microkit/microkit/retry"
)

func TestPolicyNext(t *testing.T) {
	ms := time.Millisecond
	b := retry.Backoff{Initial: 100 * ms, Max: 400 * ms, Jitter: retry.NoJitter}
	type call struct {
		failed  int
		elapsed time.Duration
		want    time.Duration
		ok      bool
	}
	for _, tt := range []struct {
		name  string
		p     retry.Policy
		calls []call
	}{
		{"zero makes one attempt", retry.Policy{}, []call{{1, 0, 0, false}}},
		{"one attempt", retry.Policy{MaxAttempts: 1, Backoff: b}, []call{{1, 0, 0, false}}},
		{"three attempts", retry.Policy{MaxAttempts: 3, Backoff: b}, []call{
			{1, 0, 100 * ms, true}, {2, time.Hour, 200 * ms, true}, {3, 0, 0, false}, {9, 0, 0, false}}},
		{"a failure below 1 counts as 1", retry.Policy{MaxAttempts: 2, Backoff: b}, []call{{0, 0, 100 * ms, true}, {-3, 0, 100 * ms, true}}},
		{"capped backoff", retry.Policy{MaxAttempts: 10, Backoff: b}, []call{{3, 0, 400 * ms, true}, {9, 0, 400 * ms, true}, {10, 0, 0, false}}},
		{"max elapsed", retry.Policy{MaxAttempts: 10, MaxElapsed: time.Second, Backoff: b}, []call{
			{1, 0, 100 * ms, true}, {1, 900 * ms, 100 * ms, true}, {1, 901 * ms, 0, false}, {3, 700 * ms, 0, false}}},
		{"no limit of attempts", retry.Policy{MaxAttempts: -1, MaxElapsed: time.Minute, Backoff: b}, []call{
			{1000, 0, 400 * ms, true}, {1000, time.Minute, 0, false}}},
		{"default backoff", retry.Policy{MaxAttempts: 2, Backoff: retry.Backoff{Jitter: retry.NoJitter}}, []call{{1, 0, 100 * ms, true}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range tt.calls {
				d, ok := tt.p.Next(c.failed, c.elapsed)
				if d != c.want || ok != c.ok {
					t.Errorf("Next(%d, %v) = %v, %v; want %v, %v", c.failed, c.elapsed, d, ok, c.want, c.ok)
				}
			}
		})
	}
}

func TestPolicyNextJitterStaysWithinMaxElapsed(t *testing.T) {
	p := retry.Policy{MaxAttempts: -1, MaxElapsed: time.Second, Backoff: retry.Backoff{Initial: time.Second}}
	for range 1000 {
		d, ok := p.Next(1, 500*time.Millisecond)
		if ok && d > 500*time.Millisecond {
			t.Fatalf("Next allowed a wait of %v that ends past MaxElapsed", d)
		}
	}
}

func TestPolicyAttempts(t *testing.T) {
	for _, tt := range []struct {
		p         retry.Policy
		retries   bool
		exhausted []int // first attempts past the policy, 0 for none
	}{
		{retry.Policy{}, false, []int{2}},
		{retry.Policy{MaxAttempts: 1}, false, []int{2}},
		{retry.Policy{MaxAttempts: 2}, true, []int{3}},
		{retry.Policy{MaxAttempts: -1, MaxElapsed: time.Second}, true, []int{0}},
	} {
		if got := tt.p.Retries(); got != tt.retries {
			t.Errorf("%+v: Retries() = %v, want %v", tt.p, got, tt.retries)
		}
		for _, first := range tt.exhausted {
			for attempt := 1; attempt < 100; attempt++ {
				want := first > 0 && attempt >= first
				if got := tt.p.Exhausted(attempt); got != want {
					t.Errorf("%+v: Exhausted(%d) = %v, want %v", tt.p, attempt, got, want)
				}
			}
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	for name, p := range map[string]retry.Policy{
		"zero":             {},
		"attempts":         {MaxAttempts: 5, Backoff: retry.Backoff{Initial: time.Second, Max: time.Minute}},
		"unlimited, timed": {MaxAttempts: -1, MaxElapsed: time.Minute},
	} {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, p := range map[string]retry.Policy{
		"negative max elapsed": {MaxAttempts: 3, MaxElapsed: -time.Second},
		"unlimited for ever":   {MaxAttempts: -1},
		"bad backoff":          {MaxAttempts: 3, Backoff: retry.Backoff{Multiplier: 0.5}},
	} {
		if err := p.Validate(); !errors.Is(err, retry.ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
}

// ExamplePolicy shows the loop a Policy paces: the caller counts attempts
// and measures the time since the first, and Next says whether to go on
// and how long to wait.
func ExamplePolicy() {
	p := retry.Policy{
		MaxAttempts: 4,
		MaxElapsed:  time.Minute,
		Backoff:     retry.Backoff{Initial: 10 * time.Millisecond, Jitter: retry.NoJitter},
	}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := errors.New("unavailable") // every attempt fails
		d, ok := p.Next(attempt, time.Since(start))
		if !ok {
			fmt.Printf("gave up after %d attempts: %v\n", attempt, err)
			return
		}
		fmt.Printf("attempt %d failed, retrying in %v\n", attempt, d)
		time.Sleep(d)
	}
	// Output:
	// attempt 1 failed, retrying in 10ms
	// attempt 2 failed, retrying in 20ms
	// attempt 3 failed, retrying in 40ms
	// gave up after 4 attempts: unavailable
}
