package eventbustest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/inbox"
)

// deliveryKey is one handler of one group for one message: the unit of
// the composition invariant.
type deliveryKey struct {
	id             string // message ID
	group, handler string
}

// call is one run of a handler.
type call struct {
	attempt int
	outcome outcome
}

// ledger is what a composition run observed, safe for concurrent use.
type ledger struct {
	mu        sync.Mutex
	calls     map[deliveryKey][]call
	handled   map[deliveryKey]int             // calls that succeeded
	parked    map[deliveryKey]map[string]bool // dead letters published (by their ID)
	collected map[deliveryKey]map[string]string
	// disturbed counts, per key, the settles that failed and the crashes
	// and broker restarts while the key was not yet done or a delivery of
	// it not yet settled: each may cost one delivery more than the policy
	// (a lost ack is a redelivery).
	disturbed map[deliveryKey]int
	// outstanding counts the deliveries of a key handed out and not yet
	// settled: a second one means the broker redelivered on its own (an
	// ack wait ran out), which is a disturbance too.
	outstanding map[deliveryKey]int
	keys        map[deliveryKey]bool // every key the scenario expects
	notify      chan struct{}
}

func newLedger() *ledger {
	return &ledger{
		calls: map[deliveryKey][]call{}, handled: map[deliveryKey]int{}, parked: map[deliveryKey]map[string]bool{},
		collected: map[deliveryKey]map[string]string{}, disturbed: map[deliveryKey]int{}, outstanding: map[deliveryKey]int{},
		keys:   map[deliveryKey]bool{},
		notify: make(chan struct{}, 1),
	}
}

func (l *ledger) poke() {
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

// begin records a call and returns its 0-based index for the key.
func (l *ledger) begin(k deliveryKey, attempt int, sc func(call int) outcome) (int, outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.calls[k])
	o := sc(n)
	l.calls[k] = append(l.calls[k], call{attempt: attempt, outcome: o})
	return n, o
}

func (l *ledger) callCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.calls {
		n += len(c)
	}
	return n
}

func (l *ledger) succeeded(k deliveryKey) {
	l.mu.Lock()
	l.handled[k]++
	l.mu.Unlock()
	l.poke()
}

func (l *ledger) published(k deliveryKey, id string) {
	l.mu.Lock()
	if l.parked[k] == nil {
		l.parked[k] = map[string]bool{}
	}
	l.parked[k][id] = true
	l.mu.Unlock()
	l.poke()
}

func (l *ledger) collect(m *eventbus.Message) {
	k := deliveryKey{m.Metadata[eventbus.MetaDeadLetterOriginalID], m.Metadata[eventbus.MetaDeadLetterGroup], m.Metadata[eventbus.MetaDeadLetterHandler]}
	l.mu.Lock()
	if l.collected[k] == nil {
		l.collected[k] = map[string]string{}
	}
	l.collected[k][m.ID] = m.Metadata[eventbus.MetaDeadLetterReason] + " @" + m.Metadata[eventbus.MetaDeadLetterAttempts]
	l.mu.Unlock()
	l.poke()
}

// disturb records that k's redelivery may repeat work: a publish or
// settle whose outcome was lost.
func (l *ledger) disturb(k deliveryKey) {
	l.mu.Lock()
	l.disturbed[k]++
	l.mu.Unlock()
}

// delivered records a delivery handed out for k.
func (l *ledger) delivered(k deliveryKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.outstanding[k] > 0 {
		l.disturbed[k]++
	}
	l.outstanding[k]++
}

// settled records how a delivery of k was settled.
func (l *ledger) settled(k deliveryKey, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outstanding[k]--
	if err != nil {
		l.disturbed[k]++ // redelivered: the invariant allows it once more
	}
}

// disturbAll marks the keys a crash or restart may cost a delivery: those
// not yet done, and those done whose delivery is not settled yet (handled
// or parked, its ack still to go out or to be confirmed). The restart may
// lose that ack, or delay it past the ack wait, so that the broker
// redelivers the message: while the worker waits for the reconnect, what
// waits behind it in the adapter's prefetch runs out its ack wait too.
func (l *ledger) disturbAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.keys {
		if l.outstanding[k] > 0 || l.handled[k] == 0 && len(l.parked[k]) == 0 {
			l.disturbed[k]++
		}
	}
}

// pending returns the keys neither handled nor parked.
func (l *ledger) pending() []deliveryKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []deliveryKey
	for k := range l.keys {
		if l.handled[k] == 0 && len(l.parked[k]) == 0 {
			out = append(out, k)
		}
	}
	return out
}

// uncollected returns how many published dead letters the collector has
// not seen yet.
func (l *ledger) uncollected() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k, ids := range l.parked {
		for id := range ids {
			if _, ok := l.collected[k][id]; !ok {
				n++
			}
		}
	}
	return n
}

// check returns the violations of the composition invariant: each
// (group, handler) handled each message exactly once, or parked it once
// per failure with the failure as its reason; nothing redelivered past
// the policy; nothing lost.
func (l *ledger) check() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var bad []string
	fail := func(k deliveryKey, format string, args ...any) {
		bad = append(bad, fmt.Sprintf("group %s, handler %s, message %s: ", k.group, k.handler, k.id)+
			fmt.Sprintf(format, args...)+fmt.Sprintf(" (calls %v)", l.calls[k]))
	}
	for k := range l.collected {
		if !l.keys[k] {
			fail(k, "dead letter %v for a handler that does not match the message", l.collected[k])
		}
	}
	for k := range l.keys {
		calls, handled, disturbed := l.calls[k], l.handled[k], l.disturbed[k]
		// What the calls allow: a reason per terminal failure.
		reasons := map[string]bool{}
		afterDone, pastPolicy := 0, 0
		done := false
		for _, c := range calls {
			if done {
				afterDone++
			}
			if c.attempt > maxAttempts {
				pastPolicy++
			}
			switch {
			case c.outcome == outcomeOK:
				done = true
			case c.outcome == outcomePermanent:
				reasons[errPoison.Error()+" @"+strconv.Itoa(c.attempt)] = true
				done = true
			case c.outcome != outcomeCrash && c.attempt >= maxAttempts:
				reasons[fmt.Sprintf("eventbus: failed %d attempts: %s @%d", c.attempt, scriptedSays[c.outcome], c.attempt)] = true
				done = true
			}
		}
		collected := l.collected[k]
		for id := range l.parked[k] {
			if _, ok := collected[id]; !ok {
				fail(k, "dead letter %s published but never delivered to the dead-letter consumer", id)
			}
		}
		for id, reason := range collected {
			if disturbed > 0 && strings.HasPrefix(reason, "eventbus: failed") &&
				(strings.Contains(reason, inbox.ErrInFlight.Error()) || strings.Contains(reason, eventbus.ErrNoAttemptLeft.Error())) {
				// A duplicate found the other delivery in flight until its
				// attempts ran out, or a redelivery came after the last
				// attempt's failure was lost.
				continue
			}
			if !reasons[reason] {
				fail(k, "dead letter %s says %q, which no failure of it explains (%v)", id, reason, reasons)
			}
		}
		switch {
		case handled > 1:
			fail(k, "handled %d times, want once", handled)
		case handled == 0 && len(collected) == 0:
			fail(k, "lost: neither handled nor dead-lettered")
		case len(collected) > len(reasons)+disturbed:
			// A lost ack after parking has the message redelivered and
			// parked again: at least once, one more per disturbance.
			fail(k, "%d dead letters for %d failures and %d disturbances", len(collected), len(reasons), disturbed)
		}
		// No delivery runs the handler past the policy. A failed settle
		// may leave a message twice in the broker (rabbitbus republishes a
		// nacked message, then acks it): each copy keeps to the policy.
		if pastPolicy > 0 || len(calls) > maxAttempts*(1+disturbed) {
			fail(k, "%d calls, %d of them past the policy's %d attempts (%d disturbances)", len(calls), pastPolicy, maxAttempts, disturbed)
		}
		if disturbed == 0 {
			if handled+len(collected) != 1 {
				fail(k, "handled %d times and dead-lettered %d times, want exactly one of them once", handled, len(collected))
			}
			if afterDone > 0 || len(calls) > maxAttempts {
				fail(k, "%d calls, %d of them after it was handled or parked", len(calls), afterDone)
			}
		}
	}
	return bad
}

// watched wraps a Subscriber so that the ledger learns of every settle
// that failed: the broker will redeliver that message, which the
// invariant then allows once more.
type watched struct {
	eventbus.Subscriber
	l *ledger
}

func (w watched) Subscribe(ctx context.Context, group, pattern string, opts ...eventbus.SubscribeOption) (eventbus.Subscription, error) {
	sn, err := w.Subscriber.Subscribe(ctx, group, pattern, opts...)
	if err != nil {
		return nil, err
	}
	return watchedSubscription{Subscription: sn, l: w.l, group: group, pattern: pattern}, nil
}

type watchedSubscription struct {
	eventbus.Subscription
	l              *ledger
	group, pattern string
}

func (w watchedSubscription) Next(ctx context.Context) (eventbus.Delivery, error) {
	d, err := w.Subscription.Next(ctx)
	if err != nil {
		return nil, err
	}
	k := deliveryKey{d.Message().ID, w.group, w.pattern}
	w.l.delivered(k)
	return watchedDelivery{Delivery: d, l: w.l, k: k}, nil
}

type watchedDelivery struct {
	eventbus.Delivery
	l *ledger
	k deliveryKey
}

func (d watchedDelivery) settled(err error) error {
	d.l.settled(d.k, err)
	return err
}

func (d watchedDelivery) Ack(ctx context.Context) error { return d.settled(d.Delivery.Ack(ctx)) }

func (d watchedDelivery) Nack(ctx context.Context, delay time.Duration) error {
	return d.settled(d.Delivery.Nack(ctx, delay))
}

func (d watchedDelivery) Term(ctx context.Context) error { return d.settled(d.Delivery.Term(ctx)) }

func (c call) String() string { return fmt.Sprintf("attempt %d: %s", c.attempt, c.outcome) }
