package eventbus

import (
	"context"
	"errors"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// Settlement is what the router tells the broker about a delivery.
type Settlement int

// The settlements of a delivery.
const (
	// SettleAck acknowledges the delivery: the message was handled, or
	// DeadLetter parked it.
	SettleAck Settlement = iota + 1
	// SettleNack asks for a redelivery after Fate.Delay.
	SettleNack
	// SettleTerm tells the broker never to redeliver the message: it failed
	// permanently and nothing parked it.
	SettleTerm
)

// Fate is how a delivery is settled once its handler chain returned.
// FateOf decides it; the Router settles by it, and middleware that reports
// on deliveries (metrics, tracing) reads it, so that all of them agree.
type Fate struct {
	// Settle is what the router does with the delivery.
	Settle Settlement
	// Delay is how long the broker waits before redelivering, for
	// SettleNack.
	Delay time.Duration
	// Outcome names the fate in metrics and logs: "ack" (handled),
	// "deadletter" (parked by DeadLetter), "retry" (redelivered after the
	// delay a *RetryError asked for), "error" (redelivered at once) or
	// "permanent" (terminated).
	Outcome string
}

// The fates FateOf returns, by outcome.
var (
	fateAck        = Fate{Settle: SettleAck, Outcome: "ack"}
	fateDeadLetter = Fate{Settle: SettleAck, Outcome: "deadletter"}
	fateTerm       = Fate{Settle: SettleTerm, Outcome: "permanent"}
	fateError      = Fate{Settle: SettleNack, Outcome: "error"}
)

// FateOf decides the fate of a delivery whose handler chain returned err,
// with ctx the context the chain ran with. Permanence is checked first: a
// permanent error terminates the delivery even when it wraps a
// *RetryError (the last attempt of a handler that asked for its own
// delay, under Retry), so that a retry policy always ends. Then a
// *RetryError nacks with its delay, and any other error nacks for
// redelivery at once. nil acknowledges; its outcome is "deadletter" when
// DeadLetter parked the message (the DeliveryInfo in ctx says so).
func FateOf(ctx context.Context, err error) Fate {
	var redeliver *RetryError
	switch {
	case err == nil:
		if info, ok := DeliveryFromContext(ctx); ok && info.DeadLetterReason != "" {
			return fateDeadLetter
		}
		return fateAck
	case retry.IsPermanent(err):
		return fateTerm
	case errors.As(err, &redeliver):
		return Fate{Settle: SettleNack, Delay: max(redeliver.Delay, 0), Outcome: "retry"}
	default:
		return fateError
	}
}
