package bench

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/console"
	"github.com/sony/gobreaker/v2"
)

// The closed-state success path of each breaker, configured as alike as
// the libraries allow: trip at a 50% failure rate over a sliding window of
// at least 20 calls. gobreaker has no count window, so it gets its rolling
// time window (10 s in 1 s buckets); failsafe-go's rate threshold is time
// based too. microkit runs with its count window (the headline), its time
// window, and the count window with slow-call detection on (which neither
// rival has).

func newGobreaker() *gobreaker.CircuitBreaker[int] {
	return gobreaker.NewCircuitBreaker[int](gobreaker.Settings{
		Name:         "bench",
		Interval:     10 * time.Second,
		BucketPeriod: time.Second,
		Timeout:      30 * time.Second,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.Requests >= 20 && c.TotalFailures*2 >= c.Requests
		},
	})
}

func newFailsafe() failsafe.Executor[int] {
	cb := circuitbreaker.NewBuilder[int]().
		WithFailureRateThreshold(0.5, 20, 10*time.Second).
		WithDelay(30 * time.Second).
		Build()
	return failsafe.With[int](cb)
}

func newMicrokit(tb testing.TB, opts ...breaker.Option) *breaker.Breaker {
	b, err := breaker.New("bench", append([]breaker.Option{breaker.WithFailureRate(0.5), breaker.WithOpenDuration(30 * time.Second)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

type breakerCase struct {
	name string
	// call makes one successful call through the breaker under test.
	call func(tb testing.TB) func() error
}

func breakerCases() []breakerCase {
	ok := func(context.Context) (int, error) { return 1, nil }
	ctx := context.Background()
	microkit := func(opts ...breaker.Option) func(tb testing.TB) func() error {
		return func(tb testing.TB) func() error {
			b := newMicrokit(tb, opts...)
			return func() error {
				_, err := breaker.Do(ctx, b, ok)
				return err
			}
		}
	}
	return []breakerCase{
		{"gobreaker", func(testing.TB) func() error {
			cb := newGobreaker()
			fn := func() (int, error) { return 1, nil }
			return func() error {
				_, err := cb.Execute(fn)
				return err
			}
		}},
		{"failsafe", func(testing.TB) func() error {
			ex := newFailsafe()
			fn := func() (int, error) { return 1, nil }
			return func() error {
				_, err := ex.Get(fn)
				return err
			}
		}},
		{"microkit-count", microkit(breaker.WithCountWindow(100, 20))},
		{"microkit-time", microkit(breaker.WithTimeWindow(10*time.Second, 10, 20))},
		{"microkit-count-slow", microkit(breaker.WithCountWindow(100, 20), breaker.WithSlowCalls(time.Second, 0.5))},
		// The headline breaker shown on an operator's console that nobody
		// looks at: its listener, registered, costs nothing on the success
		// path (compared with microkit-count in the console group).
		{"microkit-count-console", func(tb testing.TB) func() error {
			c := benchConsole(tb)
			b := newMicrokit(tb, breaker.WithCountWindow(100, 20), breaker.WithListener(c.BreakerListener()))
			c.AddBreakers(b)
			return func() error {
				_, err := breaker.Do(ctx, b, ok)
				return err
			}
		}},
	}
}

// benchConsole is an operator's console for a benchmark's building block
// to be registered with.
func benchConsole(tb testing.TB) *console.Console {
	c, err := console.New(func(*http.Request) (console.Operator, error) { return console.Operator{Name: "bench"}, nil })
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func BenchmarkBreakerSerial(b *testing.B) {
	for _, c := range breakerCases() {
		b.Run(c.name, func(b *testing.B) {
			call := c.call(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBreakerParallel(b *testing.B) {
	for _, c := range breakerCases() {
		b.Run(c.name, func(b *testing.B) {
			call := c.call(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
