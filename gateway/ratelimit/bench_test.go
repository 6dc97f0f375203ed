package ratelimit_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/go-microkit/microkit/gateway/ratelimit"
)

func BenchmarkLocalAllow(b *testing.B) {
	l, err := ratelimit.NewLocal(ratelimit.Rate{Requests: 1_000_000, Per: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := l.Allow(ctx, keys[i&1023]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
