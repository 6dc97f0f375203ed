package retry_test

import (
	"testing"

	"github.com/go-microkit/microkit/retry"
)

// BenchmarkBudget measures the hot path: one Deposit per request and one
// Withdraw per retry.
func BenchmarkBudget(b *testing.B) {
	budget, err := retry.NewBudget(retry.BudgetPolicy{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Deposit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			budget.Deposit()
		}
	})
	b.Run("Withdraw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			budget.Withdraw()
		}
	})
	b.Run("DepositWithdrawParallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				budget.Deposit()
				budget.Withdraw()
			}
		})
	})
}

// BenchmarkBackoffDelay measures one delay with full jitter.
func BenchmarkBackoffDelay(b *testing.B) {
	p := retry.Backoff{}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = p.Delay(i%20 + 1)
	}
}
