package eventbustest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
)

// TestLedgerRestartDuringSettle replays, step by step, deliveries of one
// key whose last attempt fails, around a broker restart, and checks what
// the ledger makes of them: extra dead letters that a restart or a lost
// acknowledgement explains pass, a redelivery nothing explains does not.
func TestLedgerRestartDuringSettle(t *testing.T) {
	k := deliveryKey{id: "m1", group: "g0", handler: "p.order.>"}
	lastFailure := &eventbus.ExhaustedError{Attempts: maxAttempts, Err: &eventbus.PanicError{Value: "composition: panic"}}
	noAttemptLeft := func(attempt int) *eventbus.ExhaustedError {
		return &eventbus.ExhaustedError{Attempts: attempt, Err: eventbus.ErrNoAttemptLeft}
	}
	errLost := errors.New("ack: context deadline exceeded")

	type step func(l *ledger)
	// failures runs the attempts before the last: each nacked.
	failures := func(l *ledger) {
		for attempt := 1; attempt < maxAttempts; attempt++ {
			l.delivered(k)
			l.begin(k, attempt, func(int) outcome { return outcomeError })
			l.settled(k, nil)
		}
	}
	// lastAttempt delivers the last attempt, which panics, and parks it;
	// its settle is left to the next step.
	lastAttempt := func(l *ledger) {
		l.delivered(k)
		l.begin(k, maxAttempts, func(int) outcome { return outcomePanic })
		park(l, k, 1, lastFailure)
	}
	// redelivery is a delivery past the last attempt, parked without
	// running the handler, and acknowledged.
	redelivery := func(n, attempt int) step {
		return func(l *ledger) {
			l.delivered(k)
			park(l, k, n, noAttemptLeft(attempt))
			l.settled(k, nil)
		}
	}
	restart := func(l *ledger) { l.disturbAll() }
	ack := func(err error) step { return func(l *ledger) { l.settled(k, err) } }

	for _, tc := range []struct {
		name  string
		steps []step
		want  string // a violation check must report; "" for none
	}{{
		name:  "parked once",
		steps: []step{failures, lastAttempt, ack(nil)},
	}, {
		// The restart comes between the dead letter's publish and the
		// confirmation of the ack, which it loses; the worker waits for
		// the confirmation past the ack wait, so that the redelivery
		// waiting behind it in the prefetch is redelivered again.
		name:  "restart while the ack of the parked delivery is in flight",
		steps: []step{failures, lastAttempt, restart, ack(errLost), redelivery(2, 4), redelivery(3, 5)},
	}, {
		// The ack is confirmed after the reconnect, but the server had
		// redelivered the message on restarting, its ack wait spent.
		name:  "restart delays the ack of the parked delivery past the ack wait",
		steps: []step{failures, lastAttempt, restart, ack(nil), redelivery(2, 4)},
	}, {
		name:  "redelivered after a confirmed ack, no restart",
		steps: []step{failures, lastAttempt, ack(nil), redelivery(2, 4)},
		want:  "2 dead letters for 1 failures and 0 disturbances",
	}, {
		name:  "redelivered after a confirmed ack that preceded the restart",
		steps: []step{failures, lastAttempt, ack(nil), restart, redelivery(2, 4)},
		want:  "2 dead letters for 1 failures and 0 disturbances",
	}, {
		name:  "one lost ack, parked three times",
		steps: []step{failures, lastAttempt, ack(errLost), redelivery(2, 4), redelivery(3, 5)},
		want:  "3 dead letters for 1 failures and 1 disturbances",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLedger()
			l.keys[k] = true
			for _, s := range tc.steps {
				s(l)
			}
			got := strings.Join(l.check(), "\n")
			switch {
			case tc.want == "" && got != "":
				t.Errorf("check reported\n%s\nwant nothing", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("check reported %q, want %q", got, tc.want)
			}
		})
	}
}

// park publishes and collects the n-th dead letter of k, for the failure
// err at attempt err.Attempts, as DeadLetter and the collector would.
func park(l *ledger, k deliveryKey, n int, err *eventbus.ExhaustedError) {
	dl := &eventbus.Message{ID: fmt.Sprintf("%s.deadletter.%d", k.id, n), Metadata: map[string]string{
		eventbus.MetaDeadLetterOriginalID: k.id,
		eventbus.MetaDeadLetterGroup:      k.group,
		eventbus.MetaDeadLetterHandler:    k.handler,
		eventbus.MetaDeadLetterReason:     err.Error(),
		eventbus.MetaDeadLetterAttempts:   strconv.Itoa(err.Attempts),
	}}
	l.published(k, dl.ID)
	l.collect(dl)
}
