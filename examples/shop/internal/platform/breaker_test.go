package platform

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/discovery"
)

func TestClassifyCall(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want breaker.Outcome
	}{
		{"transport error", errors.New("connection refused"), breaker.Failure},
		{"5xx", fmt.Errorf("POST /charges: %w", &StatusError{Status: 503}), breaker.Failure},
		{"own timeout", fmt.Errorf("call: %w", context.DeadlineExceeded), breaker.Failure},
		{"4xx is an answer", fmt.Errorf("POST /charges: %w", &StatusError{Status: 402}), breaker.Success},
		{"no instance yet", fmt.Errorf("resolve: %w", discovery.ErrNoInstances), breaker.Ignored},
		{"caller cancelled", context.Canceled, breaker.Ignored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClassifyCall(tc.err); got != tc.want {
				t.Errorf("ClassifyCall(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// A fault that ends at once costs about one second of refusals; only a
// breaker that trips again straight after its probes opens for longer.
func TestBreakerPolicyRecoversAsFastAsTheFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := NewBreaker("upstream", 0, breaker.WithJitterSource(func() float64 { return 0 }))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		down := errors.New("connection refused")
		call := func(err error) error {
			return b.Execute(ctx, func(context.Context) error { return err })
		}
		// A few failures among successes decide nothing.
		for range breakerMinCalls - 1 {
			_ = call(down)
		}
		if b.State() != breaker.Closed {
			t.Fatalf("open after %d failures, below the minimum of calls", breakerMinCalls-1)
		}
		_ = call(down)
		if b.State() != breaker.Open {
			t.Fatalf("state %v after %d failures in a row, want open", b.State(), breakerMinCalls)
		}
		// openFor steps time until the breaker lets a probe through.
		openFor := func() time.Duration {
			start := time.Now()
			for b.State() == breaker.Open {
				time.Sleep(50 * time.Millisecond)
			}
			return time.Since(start)
		}
		if d := openFor(); d > breakerFirstOpen {
			t.Fatalf("first open interval %v, want at most %v", d, breakerFirstOpen)
		}
		// The fault is still there: the probe fails, open twice as long.
		_ = call(down)
		if d := openFor(); d <= breakerFirstOpen || d > 2*breakerFirstOpen {
			t.Fatalf("second open interval %v, want (%v, %v]", d, breakerFirstOpen, 2*breakerFirstOpen)
		}
		// Recovered: the probes close it, and the next trip is short again.
		for range breakerSuccesses {
			if err := call(nil); err != nil {
				t.Fatal(err)
			}
		}
		if b.State() != breaker.Closed {
			t.Fatalf("state %v after %d successful probes, want closed", b.State(), breakerSuccesses)
		}
		for range breakerMinCalls {
			_ = call(down)
		}
		if d := openFor(); d > breakerFirstOpen {
			t.Fatalf("open interval after a healthy close %v, want at most %v", d, breakerFirstOpen)
		}
		// Calls that prove nothing about the upstream never open it: no
		// instance to call, a caller whose time ran out before the call.
		b.Reset(ctx)
		gone, cancel := context.WithTimeout(ctx, time.Millisecond)
		defer cancel()
		<-gone.Done()
		for range 3 * breakerMinCalls {
			_ = b.Execute(gone, func(context.Context) error { return down })
			_ = call(fmt.Errorf("pick: %w", discovery.ErrNoInstances))
		}
		if b.State() != breaker.Closed {
			t.Fatalf("state %v after calls cut short by the caller and calls with no instance, want closed", b.State())
		}
	})
}
