package breaker_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

func benchBreaker(b *testing.B, opts ...breaker.Option) *breaker.Breaker {
	b.Helper()
	br, err := breaker.New("bench", opts...)
	if err != nil {
		b.Fatal(err)
	}
	return br
}

var benchConfigs = []struct {
	name string
	opts []breaker.Option
}{
	{"defaults", nil},
	{"consecutive", []breaker.Option{breaker.WithConsecutiveFailures(5)}},
	{"count-window", []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithCountWindow(100, 20)}},
	{"time-window", []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithTimeWindow(10*time.Second, 10, 20)}},
	{"count-window+slow", []breaker.Option{breaker.WithFailureRate(0.5), breaker.WithCountWindow(100, 20), breaker.WithSlowCalls(time.Second, 0.5)}},
}

func ok(context.Context) error { return nil }

func BenchmarkExecute(b *testing.B) {
	ctx := context.Background()
	for _, c := range benchConfigs {
		b.Run(c.name, func(b *testing.B) {
			br := benchBreaker(b, c.opts...)
			b.ReportAllocs()
			for b.Loop() {
				if err := br.Execute(ctx, ok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkExecuteParallel(b *testing.B) {
	ctx := context.Background()
	for _, c := range benchConfigs {
		b.Run(c.name, func(b *testing.B) {
			br := benchBreaker(b, c.opts...)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := br.Execute(ctx, ok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkDo(b *testing.B) {
	ctx := context.Background()
	br := benchBreaker(b, breaker.WithFailureRate(0.5), breaker.WithCountWindow(100, 20))
	fn := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := breaker.Do(ctx, br, fn); err != nil {
			b.Fatal(err)
		}
	}
}
