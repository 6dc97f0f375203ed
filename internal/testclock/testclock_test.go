package testclock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/internal/testclock"
)

func TestClock(t *testing.T) {
	at := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		clock *testclock.Clock
		move  func(*testclock.Clock)
		want  time.Time
	}{
		{"New shows Start", testclock.New(), func(*testclock.Clock) {}, testclock.Start},
		{"At shows t", testclock.At(at), func(*testclock.Clock) {}, at},
		{"Advance forward and back", testclock.New(), func(c *testclock.Clock) {
			c.Advance(time.Second)
			c.Advance(-time.Millisecond)
		}, testclock.Start.Add(999 * time.Millisecond)},
		{"Set then Advance", testclock.New(), func(c *testclock.Clock) {
			c.Set(at)
			c.Advance(time.Minute)
		}, at.Add(time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.move(tt.clock)
			if got := tt.clock.Now(); !got.Equal(tt.want) {
				t.Fatalf("Now = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestClockConcurrent: readers and writers at once lose no step (and the
// race detector sees no race).
func TestClockConcurrent(t *testing.T) {
	c := testclock.New()
	const goroutines, steps = 8, 100
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range steps {
				c.Advance(time.Millisecond)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), testclock.Start.Add(goroutines*steps*time.Millisecond); !got.Equal(want) {
		t.Fatalf("Now = %v, want %v", got, want)
	}
}
