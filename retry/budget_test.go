package retry_test

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/retry"
)

func newBudget(t *testing.T, p retry.BudgetPolicy) *retry.Budget {
	t.Helper()
	b, err := retry.NewBudget(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withdrawAll spends the budget and returns how many retries it allowed.
func withdrawAll(b *retry.Budget) int {
	n := 0
	for b.Withdraw() {
		n++
	}
	return n
}

func TestNewBudgetRejectsInvalidPolicies(t *testing.T) {
	for name, p := range map[string]retry.BudgetPolicy{
		"ratio above 1":   {Ratio: 1.5},
		"ratio NaN":       {Ratio: math.NaN()},
		"floor NaN":       {MinPerSecond: math.NaN()},
		"floor infinite":  {MinPerSecond: math.Inf(1)},
		"floor too large": {MinPerSecond: 1e18},
		"negative window": {Window: -time.Second},
	} {
		if _, err := retry.NewBudget(p); !errors.Is(err, retry.ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
}

// TestBudgetDefaults: the zero policy is Finagle's, 10 retries a second
// over a 10-second window, so a fresh budget allows 100 retries and then
// one for every five requests.
func TestBudgetDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetPolicy{})
		if n := withdrawAll(b); n != 100 {
			t.Fatalf("fresh budget allowed %d retries, want 100", n)
		}
		for range 10 {
			b.Deposit()
		}
		if n := withdrawAll(b); n != 2 {
			t.Fatalf("10 requests earned %d retries, want 2", n)
		}
	})
}

// TestBudgetRatio: each request earns Ratio of a retry, and retries are
// whole.
func TestBudgetRatio(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetPolicy{Ratio: 0.5, MinPerSecond: -1})
		if b.Withdraw() {
			t.Fatal("a budget without a floor allowed a retry before any request")
		}
		b.Deposit()
		if b.Withdraw() {
			t.Fatal("half a retry allowed a retry")
		}
		b.Deposit()
		b.Deposit()
		if !b.Withdraw() {
			t.Fatal("a whole retry was refused")
		}
		if b.Withdraw() {
			t.Fatal("half a retry left allowed a second one")
		}
	})
}

// TestBudgetFloorWithoutRatio: with no share of requests, the floor
// alone allows MinPerSecond × Window retries per window, however many
// requests there are, and gives them back as the window passes.
func TestBudgetFloorWithoutRatio(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetPolicy{Ratio: -1, MinPerSecond: 0.1, Window: 100 * time.Second})
		for range 1000 {
			b.Deposit()
		}
		if n := withdrawAll(b); n != 10 {
			t.Fatalf("floor allowed %d retries, want 10", n)
		}
		time.Sleep(100 * time.Second)
		if n := withdrawAll(b); n != 10 {
			t.Fatalf("after a window the floor allowed %d retries, want 10 again", n)
		}
	})
}

// TestBudgetRefillsOverTime: retries spent leave the budget as the window
// slides past them, in tenths of the window; requests' earnings leave it
// the same way, so a burst of traffic long ago funds no retry today.
func TestBudgetRefillsOverTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetPolicy{Ratio: 0.1, MinPerSecond: 2, Window: 10 * time.Second})
		steps := []struct {
			name     string
			sleep    time.Duration
			deposits int
			want     int
		}{
			{name: "fresh: the floor over the window", want: 20},
			{name: "spent, nothing new", want: 0},
			{name: "10 requests earn 1", deposits: 10, want: 1},
			{name: "half a window: nothing spent has left yet", sleep: 5 * time.Second, want: 0},
			{name: "a whole window after the first spending", sleep: 5 * time.Second, want: 20},
			{name: "100 requests earn 10", deposits: 100, want: 10},
			{name: "a window later their earnings and the retries are gone", sleep: 10 * time.Second, want: 20},
			{name: "an hour later the budget holds one window, not an hour", sleep: time.Hour, want: 20},
		}
		for _, s := range steps {
			time.Sleep(s.sleep)
			for range s.deposits {
				b.Deposit()
			}
			if n := withdrawAll(b); n != s.want {
				t.Fatalf("%s: %d retries, want %d", s.name, n, s.want)
			}
		}
		// Earnings unspent for a window are gone too.
		for range 100 {
			b.Deposit()
		}
		time.Sleep(10 * time.Second)
		if n := withdrawAll(b); n != 20 {
			t.Fatalf("a window after 100 unspent requests: %d retries, want the floor's 20", n)
		}
	})
}

// TestBudgetCapsRetriesUnderStorm: clients whose every request fails and
// who would retry each one up to three times send, over a long outage,
// no more retries than Ratio of their requests plus the floor.
func TestBudgetCapsRetriesUnderStorm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			clients   = 8
			seconds   = 60
			perClient = 50 // requests a second
		)
		b := newBudget(t, retry.BudgetPolicy{Ratio: 0.2, MinPerSecond: 1, Window: 10 * time.Second})
		var requests, retries atomic.Int64
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for range seconds * perClient {
					b.Deposit()
					requests.Add(1)
					for range 3 { // every attempt fails
						if !b.Withdraw() {
							break
						}
						retries.Add(1)
					}
					time.Sleep(time.Second / perClient)
				}
			})
		}
		wg.Wait()
		// The floor allows 1 a second; the share 20%.
		limit := float64(requests.Load())*0.2 + seconds + 10
		if got := float64(retries.Load()); got > limit {
			t.Fatalf("%d requests made %v retries, more than the budget's %v", requests.Load(), got, limit)
		}
		if got := float64(retries.Load()); got < 0.9*float64(requests.Load())*0.2 {
			t.Fatalf("%d requests made only %v retries: the budget starved them", requests.Load(), got)
		}
	})
}

// TestBudgetConcurrentUse: deposits and withdrawals from many goroutines
// keep the books: no more retries than the budget allows.
func TestBudgetConcurrentUse(t *testing.T) {
	b := newBudget(t, retry.BudgetPolicy{Ratio: 0.25, MinPerSecond: -1, Window: time.Hour})
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				b.Deposit()
				if b.Withdraw() {
					granted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := granted.Load(); got > 2000 || got < 1990 {
		t.Fatalf("8000 requests at 0.25 granted %d retries, want about 2000 and never more", got)
	}
}
