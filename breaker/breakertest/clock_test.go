package breakertest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/breaker/breakertest"
)

func TestClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := breakertest.NewClock(start)
	c.Advance(time.Second)
	c.Advance(-time.Millisecond)
	if got := c.Now(); !got.Equal(start.Add(999 * time.Millisecond)) {
		t.Fatalf("Now = %v", got)
	}
}

func ExampleClock() {
	clk := breakertest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b, _ := breaker.New("db", breaker.WithClock(clk),
		breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(10*time.Second))
	_ = b.Execute(context.Background(), func(context.Context) error { return fmt.Errorf("down") })
	fmt.Println(b.State())
	clk.Advance(10 * time.Second) // no sleep
	fmt.Println(b.State())
	// Output:
	// open
	// half-open
}
