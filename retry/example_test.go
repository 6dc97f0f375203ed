package retry_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-microkit/microkit/retry"
)

var errUnavailable = errors.New("unavailable")

// Example shows a client's retry loop in the toolkit's vocabulary: retry
// only a request that may be sent twice, never an error marked permanent,
// wait with backoff, and stop when the budget shared by every call to the
// service says retries are already too many.
func Example() {
	budget, err := retry.NewBudget(retry.BudgetPolicy{Ratio: 0.1, MinPerSecond: -1})
	if err != nil {
		panic(err)
	}
	backoff := retry.Backoff{Initial: time.Millisecond, Jitter: retry.NoJitter}

	// call fails twice, then succeeds; a 404 would be permanent.
	calls := 0
	call := func(req *http.Request) error {
		calls++
		if req.URL.Path == "/missing" {
			return retry.Permanent(fmt.Errorf("%s: not found", req.URL.Path))
		}
		if calls < 3 {
			return errUnavailable
		}
		return nil
	}
	do := func(req *http.Request) error {
		budget.Deposit()
		for attempt := 1; ; attempt++ {
			err := call(req)
			if err == nil || retry.IsPermanent(err) || !retry.Idempotent(req) || !retry.Replayable(req) || !budget.Withdraw() {
				return err
			}
			time.Sleep(backoff.Delay(attempt))
		}
	}

	// Twenty earlier requests earned two retries.
	for range 20 {
		budget.Deposit()
	}
	get, _ := http.NewRequest(http.MethodGet, "http://svc/items/1", nil)
	fmt.Println("GET:", do(get), "after", calls, "calls")

	calls = 0
	post, _ := http.NewRequest(http.MethodPost, "http://svc/items", strings.NewReader("{}"))
	fmt.Println("POST:", do(post), "after", calls, "call")

	calls = 0
	post.Header.Set(retry.IdempotencyKeyHeader, "order-7")
	fmt.Println("POST with a key:", do(post), "after", calls, "call: the budget is spent")

	calls = 0
	missing, _ := http.NewRequest(http.MethodGet, "http://svc/missing", nil)
	fmt.Println("GET:", do(missing), "after", calls, "call")
	// Output:
	// GET: <nil> after 3 calls
	// POST: unavailable after 1 call
	// POST with a key: unavailable after 1 call: the budget is spent
	// GET: /missing: not found after 1 call
}

// ExampleBackoff prints the delays of a policy without jitter; with the
// default FullJitter each is a random time up to these.
func ExampleBackoff() {
	b := retry.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: retry.NoJitter}
	for attempt := 1; attempt <= 5; attempt++ {
		fmt.Println(attempt, b.Delay(attempt))
	}
	// Output:
	// 1 100ms
	// 2 200ms
	// 3 400ms
	// 4 800ms
	// 5 1s
}
