package breaker_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

// FuzzStateMachine drives a breaker with every rule on through random
// calls, outcomes, probes held and released, and clock advances, and checks
// the state machine's invariants after each step.
func FuzzStateMachine(f *testing.F) {
	f.Add([]byte{1, 1, 1, 1, 4, 200, 0, 0})
	f.Add([]byte{1, 1, 1, 4, 120, 5, 5, 5, 6, 7, 4, 255, 0})
	f.Add([]byte{3, 3, 3, 3, 4, 100, 5, 2, 6, 4, 250, 4, 250, 0})
	f.Add([]byte{0, 1, 0, 1, 1, 1, 2, 2, 4, 50, 5, 5, 7, 6, 4, 110, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		synctest.Test(t, func(t *testing.T) {
			const (
				threshold = 3
				size      = 4
				minCalls  = 2
				maxProbes = 2
				openDur   = time.Second
				openMax   = 8 * time.Second
				halfMax   = 5 * time.Second
				slow      = time.Second
			)
			ctx := context.Background()
			var trs []breaker.Transition
			b := mustNew(t, consecutive(threshold),
				breaker.WithFailureRate(0.5), breaker.WithSlowCalls(slow, 0.5), breaker.WithCountWindow(size, minCalls),
				openFor(openDur), breaker.WithOpenBackoff(2, openMax, 0.5), breaker.WithHalfOpen(maxProbes, maxProbes),
				breaker.WithHalfOpenMaxTime(halfMax),
				breaker.WithListener(func(_ context.Context, tr breaker.Transition) { trs = append(trs, tr) }))
			var held []breaker.Permit
			for i := 0; i < len(ops); i++ {
				before := b.State()
				op := ops[i] % 8
				switch op {
				case 0, 1, 2, 3: // a call: ok, failed, cancelled, slow
					ran := false
					err := b.Execute(ctx, func(context.Context) error {
						ran = true
						switch op {
						case 1:
							return errBoom
						case 2:
							return context.Canceled
						case 3:
							time.Sleep(slow)
						}
						return nil
					})
					var oe *breaker.OpenError
					switch {
					case ran && (before == breaker.Open || before == breaker.ForcedOpen):
						t.Fatalf("op %d: call ran while %v", i, before)
					case !ran && !errors.As(err, &oe):
						t.Fatalf("op %d: call did not run, err %v", i, err)
					case oe != nil && oe.State == breaker.Open && !oe.RetryAt.After(time.Now()):
						t.Fatalf("op %d: open until %v, now %v", i, oe.RetryAt, time.Now())
					case op == 2 && before == breaker.Closed && b.State() != breaker.Closed:
						t.Fatalf("op %d: a cancelled call opened the breaker", i)
					}
				case 4: // advance the clock
					if i+1 < len(ops) {
						i++
						time.Sleep(time.Duration(ops[i]) * 20 * time.Millisecond)
					}
				case 5: // acquire and hold
					if pm, err := b.Acquire(); err == nil && pm.Probe() {
						held = append(held, pm)
					}
				case 6, 7: // release a held probe
					if len(held) > 0 {
						o := breaker.Success
						if op == 7 {
							o = breaker.Failure
						}
						held[0].Record(ctx, o, 0)
						held = held[1:]
					}
				}
				checkInvariants(t, i, b, &trs, time.Now())
			}
		})
	})
}

func checkInvariants(t *testing.T, i int, b *breaker.Breaker, transitions *[]breaker.Transition, now time.Time) {
	t.Helper()
	s := b.State()
	c := b.Counts()
	switch s {
	case breaker.Closed:
		if c.Calls < 0 || c.Calls > 4 || c.Failures < 0 || c.Failures > c.Calls || c.Slow < 0 || c.Slow > c.Calls {
			t.Fatalf("op %d: closed with counts %+v", i, c)
		}
		if c.ConsecutiveFailures >= 3 {
			t.Fatalf("op %d: closed after %d consecutive failures", i, c.ConsecutiveFailures)
		}
		if c.Calls >= 2 && (2*c.Failures >= c.Calls || 2*c.Slow >= c.Calls) {
			t.Fatalf("op %d: closed with a window over a rate: %+v", i, c)
		}
	case breaker.HalfOpen:
		if c.Probes > 2 || c.ProbeSuccesses > c.Probes {
			t.Fatalf("op %d: half-open with %d probes, %d successes", i, c.Probes, c.ProbeSuccesses)
		}
	case breaker.Open:
	default:
		t.Fatalf("op %d: state %v", i, s)
	}
	prev := checkSequence(t, i, *transitions, now)
	if prev != s {
		t.Fatalf("op %d: state %v, last transition to %v", i, s, prev)
	}
}

// checkSequence checks that trs is a legal run of the state machine from
// closed, and returns the state it ends in.
func checkSequence(t *testing.T, i int, trs []breaker.Transition, now time.Time) breaker.State {
	t.Helper()
	prev := breaker.Closed
	for j, tr := range trs {
		ok := tr.From == prev && (tr.From == breaker.Closed && tr.To == breaker.Open ||
			tr.From == breaker.Open && tr.To == breaker.HalfOpen ||
			tr.From == breaker.HalfOpen && (tr.To == breaker.Open || tr.To == breaker.Closed))
		if !ok {
			t.Fatalf("op %d: transition %d %v>%v after %v", i, j, tr.From, tr.To, prev)
		}
		if tr.To == breaker.Open {
			if d := tr.OpenUntil.Sub(tr.At); d < 500*time.Millisecond || d > 8*time.Second {
				t.Fatalf("op %d: open for %v", i, d)
			}
		}
		if tr.At.After(now) {
			t.Fatalf("op %d: transition in the future", i)
		}
		prev = tr.To
	}
	return prev
}
