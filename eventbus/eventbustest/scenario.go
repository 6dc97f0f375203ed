package eventbustest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/inbox"
	"github.com/go-microkit/microkit/retry"
)

// outcome is what a handler call does, as a scenario's script says.
type outcome int

const (
	outcomeOK        outcome = iota
	outcomeError             // a plain error
	outcomeRetry             // a *RetryError with its own delay
	outcomePermanent         // retry.Permanent
	outcomePanic             // a panic
	outcomeTimeout           // blocks until Timeout cancels it
	outcomeCrash             // the consumer's process dies during the call
)

var outcomeNames = [...]string{"ok", "error", "retry", "permanent", "panic", "timeout", "crash"}

func (o outcome) String() string { return outcomeNames[o] }

// The errors of the scripted failures, and what a dead letter's reason says
// for each when it is the last attempt's.
var (
	errScripted  = errors.New("composition: handler failed")
	errBusy      = errors.New("composition: busy")
	errPoison    = errors.New("composition: poison message")
	errCrashed   = errors.New("composition: process died")
	scriptedSays = map[outcome]string{
		outcomeError:   errScripted.Error(),
		outcomeRetry:   (&eventbus.RetryError{Err: errBusy, Delay: retryOwnDelay}).Error(),
		outcomePanic:   (&eventbus.PanicError{Value: "composition: panic"}).Error(),
		outcomeTimeout: context.DeadlineExceeded.Error(),
	}
)

// The policy every group of a scenario runs with; delays are short so
// that a run takes well under a second on a local broker.
const (
	maxAttempts    = 3
	retryOwnDelay  = 2 * time.Millisecond
	handlerTimeout = 10 * time.Millisecond
)

// The middleware a scenario orders at random.
var middlewareKinds = []string{"deadletter", "retry", "dedupe", "timeout", "recover"}

// scenario is the plan drawn from one random seed: groups, their handlers and middleware
// orders, the messages, and what each handler call does.
type scenario struct {
	seed    uint64
	groups  []groupPlan
	types   []string // message types, after the prefix
	scripts map[scriptKey][]outcome
	// crash is the one (message, group, handler) call that kills its
	// consumer, if any; restartAfter is after how many handler calls the
	// broker restarts (0: never).
	crash        *crashPlan
	restartAfter int
}

type groupPlan struct {
	name        string
	patterns    []string // after the prefix; each is also the handler's name
	order       []string // middleware kinds, outermost first
	split       int      // order[:split] on the router, the rest on each handler
	concurrency int
	refused     bool // the drawn order put DeadLetter inside Retry: the router must refuse it
}

type crashPlan struct {
	key  scriptKey
	call int // 0-based call of the key that crashes
}

// scriptKey names a handler's script for one message: the message's
// index, the group, the handler's pattern.
type scriptKey struct {
	msg            int
	group, handler string
}

var patternPool = []string{"order.created", "*.created", "order.*"}

// newScenario draws the plan of seed. withRestart says whether the
// adapter can restart its broker.
func newScenario(seed uint64, withRestart bool) *scenario {
	rng := rand.New(rand.NewPCG(seed, 0x636f6d706f736500))
	sc := &scenario{seed: seed, scripts: map[scriptKey][]outcome{}}
	for g := range 2 + rng.IntN(2) {
		gp := groupPlan{name: fmt.Sprint("g", g), concurrency: 1 + rng.IntN(3)}
		// Every group has "order.>" and at least one pattern overlapping it.
		gp.patterns = []string{"order.>"}
		for _, p := range patternPool {
			if rng.IntN(2) == 0 {
				gp.patterns = append(gp.patterns, p)
			}
		}
		if len(gp.patterns) == 1 {
			gp.patterns = append(gp.patterns, patternPool[rng.IntN(len(patternPool))])
		}
		gp.order = slices.Clone(middlewareKinds)
		rng.Shuffle(len(gp.order), func(i, j int) { gp.order[i], gp.order[j] = gp.order[j], gp.order[i] })
		if d, r := slices.Index(gp.order, "deadletter"), slices.Index(gp.order, "retry"); r < d {
			gp.refused = true
			gp.order[d], gp.order[r] = gp.order[r], gp.order[d]
		}
		if rng.IntN(2) == 0 {
			// Without Recover: the router must recover the handler anyway.
			gp.order = slices.DeleteFunc(gp.order, func(k string) bool { return k == "recover" })
		}
		gp.split = rng.IntN(len(gp.order) + 1)
		sc.groups = append(sc.groups, gp)
	}
	typePool := []string{"order.created", "order.paid", "shipment.created"}
	for range 6 + rng.IntN(7) {
		sc.types = append(sc.types, typePool[rng.IntN(len(typePool))])
	}
	var crashable []scriptKey
	for m, typ := range sc.types {
		for _, g := range sc.groups {
			for _, p := range g.patterns {
				if !eventbus.Match(p, typ) {
					continue
				}
				k := scriptKey{m, g.name, p}
				sc.scripts[k] = script(rng)
				crashable = append(crashable, k)
			}
		}
	}
	if len(crashable) > 0 && rng.IntN(5) < 2 {
		k := crashable[rng.IntN(len(crashable))]
		c := rng.IntN(len(sc.scripts[k]))
		sc.scripts[k][c] = outcomeCrash
		sc.crash = &crashPlan{key: k, call: c}
	}
	if withRestart && rng.IntN(5) < 2 {
		sc.restartAfter = 1 + rng.IntN(len(crashable)/2+1)
	}
	return sc
}

// script draws what the calls of one handler for one message do: mostly
// success, failures of every kind, at times more failures than the
// policy allows. Calls past the script succeed.
func script(rng *rand.Rand) []outcome {
	out := make([]outcome, maxAttempts+2)
	for i := range out {
		switch r := rng.IntN(100); {
		case r < 45:
			out[i] = outcomeOK
		case r < 60:
			out[i] = outcomeError
		case r < 72:
			out[i] = outcomeRetry
		case r < 80:
			out[i] = outcomePermanent
		case r < 90:
			out[i] = outcomePanic
		default:
			out[i] = outcomeTimeout
		}
	}
	return out
}

func (sc *scenario) outcome(k scriptKey, call int) outcome {
	s := sc.scripts[k]
	if call >= len(s) {
		return outcomeOK
	}
	return s[call]
}

// middleware builds group g's chain: the router's part and each
// handler's part.
func (g groupPlan) middleware(dead eventbus.Publisher, store inbox.Store) (router, handler []eventbus.Middleware) {
	var all []eventbus.Middleware
	for _, kind := range g.order {
		switch kind {
		case "deadletter":
			all = append(all, eventbus.DeadLetter(dead, eventbus.DeadLetterLogger(quietLogger())))
		case "retry":
			all = append(all, eventbus.Retry(retry.Policy{MaxAttempts: maxAttempts, Backoff: retry.Backoff{Initial: time.Millisecond, Multiplier: 1, Jitter: retry.NoJitter}}))
		case "dedupe":
			all = append(all, inbox.Dedupe(store, inbox.WithInFlightDelay(5*time.Millisecond)))
		case "timeout":
			all = append(all, eventbus.Timeout(handlerTimeout))
		case "recover":
			all = append(all, eventbus.Recover())
		}
	}
	return all[:g.split], all[g.split:]
}

// describe is the plan in a few lines, logged with a failure.
func (sc *scenario) describe() string {
	s := fmt.Sprintf("seed %d: %d messages %v", sc.seed, len(sc.types), sc.types)
	for _, g := range sc.groups {
		s += fmt.Sprintf("\n  group %s: handlers %v, middleware %v (router: first %d), concurrency %d",
			g.name, g.patterns, g.order, g.split, g.concurrency)
	}
	if sc.crash != nil {
		s += fmt.Sprintf("\n  crash: message %d, group %s, handler %s, call %d",
			sc.crash.key.msg, sc.crash.key.group, sc.crash.key.handler, sc.crash.call+1)
	}
	if sc.restartAfter > 0 {
		s += fmt.Sprintf("\n  broker restart after %d handler calls", sc.restartAfter)
	}
	return s
}
