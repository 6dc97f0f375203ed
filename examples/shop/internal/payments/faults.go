package payments

import (
	"context"
	"math/rand/v2"
	"time"
)

// Faults is the fault injection of the payment-service, set through
// platform.FaultPath. The zero value injects nothing.
type Faults struct {
	// ErrorRate is the share of charges and refunds that fail with 500,
	// from 0 (none) to 1 (all).
	ErrorRate float64 `json:"error_rate"`
	// LatencyMS is added to every charge and refund; zero means none.
	LatencyMS int `json:"latency_ms"`
	// Down makes every charge and refund answer 503.
	Down bool `json:"down"`
	// LoseChargeReplies makes every charge take effect and then answer
	// 504 reply_lost, as a reply lost on its way back would leave the
	// caller: unable to tell whether the customer was charged, so the
	// order saga refunds.
	LoseChargeReplies bool `json:"lose_charge_replies"`
	// HoldConfirmations makes every new charge's outcome go unpublished,
	// as a payment provider that never calls back: the order waits until
	// its payment deadline, then is cancelled.
	HoldConfirmations bool `json:"hold_confirmations"`
	// FailRefunds makes every refund answer 500 injected without
	// refunding, so that a saga's compensation fails until it is cleared.
	FailRefunds bool `json:"fail_refunds"`
}

// check is the refusal of invalid Faults, "" when they are valid.
func (f Faults) check() string {
	if f.ErrorRate < 0 || f.ErrorRate > 1 || f.LatencyMS < 0 {
		return "error_rate must be in [0, 1] and latency_ms not negative"
	}
	return ""
}

// apply waits the injected latency and returns the injected failure of a
// charge or refund: 503 when down, 500 at the error rate, 0 for none.
func (f Faults) apply(ctx context.Context) int {
	if f.LatencyMS > 0 {
		t := time.NewTimer(time.Duration(f.LatencyMS) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	switch {
	case f.Down:
		return 503
	case f.ErrorRate >= 1 || f.ErrorRate > 0 && rand.Float64() < f.ErrorRate:
		return 500
	}
	return 0
}
