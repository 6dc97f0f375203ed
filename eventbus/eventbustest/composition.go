package eventbustest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/inbox"
	"github.com/go-microkit/microkit/retry"
)

var (
	seedFlag  = flag.Uint64("eventbus.seed", 0, "run the eventbus composition suite for this seed only")
	seedsFlag = flag.Int("eventbus.seeds", 0, "run the eventbus composition suite for this many random seeds instead of Config.Seeds fixed ones")
)

// RunComposition runs the composition suite: for each seed, a randomized
// but reproducible scenario of several consumer groups with overlapping
// handler patterns ("order.>" with "order.created", "*.created",
// "order.*"), each group's middleware (DeadLetter, Retry, Dedupe, Timeout,
// and Recover or not) in a random order split between the router and its
// handlers,
// handler calls that succeed, fail, ask for their own delay, fail
// permanently, panic, time out or crash their consumer, and, where
// Config.Restart is set, a broker restart in the middle. After each run
// it checks that each (group, handler) handled each message exactly once,
// or that the message is in the dead-letter consumer once per failure
// with that failure as its reason (exactly one of the two, unless an
// acknowledgement was lost, a consumer crashed or the broker restarted
// while the message was pending or its acknowledgement in flight); that
// no handler ran past the retry policy's attempts; and that nothing was
// lost.
//
// It runs Config.Seeds fixed seeds (1, 2, ...). The test flags
// -eventbus.seed=N (one seed: what a failure prints to replay it) and
// -eventbus.seeds=N (N random seeds, to search locally) override them.
func RunComposition(t *testing.T, cfg Config) {
	t.Helper()
	s := newSuite(t, cfg)
	var seeds []uint64
	switch {
	case *seedFlag != 0:
		seeds = []uint64{*seedFlag}
	case *seedsFlag > 0:
		base := rand.Uint64() >> 1
		t.Logf("composition: %d random seeds from %d", *seedsFlag, base)
		for i := range *seedsFlag {
			seeds = append(seeds, base+uint64(i))
		}
	default:
		n := cfg.Seeds
		if n <= 0 {
			n = 3
		}
		for i := range n {
			seeds = append(seeds, uint64(i+1))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { s.compose(t, seed) })
	}
}

// composition is the run of one random seed.
type composition struct {
	s      *suite
	sc     *scenario
	l      *ledger
	prefix string
	index  map[string]int // message ID → index in sc.types
	crash  chan crashRequest
	// draining is set once every key is done: a crash scripted for a
	// late redelivery then only fails the call.
	draining atomic.Bool
}

type crashRequest struct {
	group    string
	released chan struct{}
}

// member is one running instance of a group: its process and router.
type member struct {
	in     Instance
	router *eventbus.Router
}

func (s *suite) compose(t *testing.T, seed uint64) {
	sc := newScenario(seed, s.cfg.Restart != nil)
	c := &composition{s: s, sc: sc, l: newLedger(), prefix: prefix(), index: map[string]int{}, crash: make(chan crashRequest, 1)}
	t.Logf("scenario %s", sc.describe())
	defer func() {
		if t.Failed() {
			dir, _ := os.Getwd() // the package under test
			t.Logf("replay: go test -race %s -run '^%s$' -eventbus.seed=%d", dir, t.Name(), seed)
		}
	}()

	producer := s.connect(t)
	collector := s.connect(t)
	s.startRouter(t, collector.Subscriber, "collector", eventbus.DeadLetterPrefix+c.prefix+".>",
		func(_ context.Context, m *eventbus.Message) error {
			c.l.collect(m)
			return nil
		}, eventbus.WithConcurrency(2))

	stores := map[string]inbox.Store{} // a group's dedupe store outlives its instances, as a database does
	members := map[string]*member{}
	for _, g := range sc.groups {
		stores[g.name] = inbox.NewMemory(time.Hour)
		members[g.name] = c.start(t, g, stores[g.name])
	}
	msgs := make([]*eventbus.Message, len(sc.types))
	for i, typ := range sc.types {
		msgs[i] = msg(c.prefix+"."+typ, fmt.Sprint("s", i), i) // subjects apart: no ordering between them
		c.index[msgs[i].ID] = i
	}
	for k := range sc.scripts {
		c.l.keys[deliveryKey{msgs[k.msg].ID, k.group, c.prefix + "." + k.handler}] = true
	}
	s.publish(t, producer.Publisher, msgs...)

	restarted := sc.restartAfter == 0
	deadline := time.NewTimer(s.cfg.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for len(c.l.pending()) > 0 {
		select {
		case req := <-c.crash:
			c.l.disturbAll()
			old := members[req.group]
			_ = old.in.Publisher.Close(s.ctx(t))
			_ = old.in.Subscriber.Close(s.ctx(t))
			close(req.released)
			_ = old.router.Close(s.ctx(t))
			members[req.group] = c.start(t, c.plan(req.group), stores[req.group])
		case <-c.l.notify:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("after %s, %d (group, handler, message) not handled nor parked: %v", s.cfg.Timeout, len(c.l.pending()), c.l.pending())
		}
		if !restarted && c.l.callCount() >= sc.restartAfter {
			restarted = true
			c.l.disturbAll()
			s.cfg.Restart(t)
		}
	}
	// Drain: the routers settle what they hold; then every dead letter
	// published reaches the collector. The drain has a Timeout of its own:
	// it is a second liveness bound, not a share of the first one, which a
	// slow machine may have spent almost entirely on the scenario.
	c.draining.Store(true)
	for _, m := range members {
		if err := m.router.Close(s.ctx(t)); err != nil {
			t.Errorf("router close: %v", err)
		}
	}
	deadline.Reset(s.cfg.Timeout)
	for c.l.uncollected() > 0 {
		select {
		case <-c.l.notify:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s after the routers closed, %d dead letters published but not delivered", s.cfg.Timeout, c.l.uncollected())
		}
	}
	for _, v := range c.l.check() {
		t.Error(v)
	}
}

func (c *composition) plan(group string) groupPlan {
	for _, g := range c.sc.groups {
		if g.name == group {
			return g
		}
	}
	panic("eventbustest: unknown group " + group)
}

// start runs one instance of group g: a new connection and a router with
// g's handlers and middleware.
func (c *composition) start(t *testing.T, g groupPlan, store inbox.Store) *member {
	t.Helper()
	in := c.s.connect(t)
	dead := eventbus.DecoratePublisher(in.Publisher, func(ctx context.Context, msgs ...*eventbus.Message) error {
		err := in.Publisher.Publish(ctx, msgs...)
		for _, m := range msgs {
			k := deliveryKey{m.Metadata[eventbus.MetaDeadLetterOriginalID], m.Metadata[eventbus.MetaDeadLetterGroup],
				m.Metadata[eventbus.MetaDeadLetterHandler]}
			if err != nil {
				// The dead letter may be stored all the same (its
				// confirmation lost): the message is parked again.
				c.l.disturb(k)
				continue
			}
			c.l.published(k, m.ID)
		}
		return err
	})
	routerMW, handlerMW := g.middleware(dead, store)
	sub := subscriberWith{watched{in.Subscriber, c.l}, c.s.cfg.SubscribeOptions}
	if g.refused {
		// The drawn order had DeadLetter inside Retry: refused, not run.
		refused := g
		refused.order = append([]string(nil), g.order...)
		d, r := slices.Index(refused.order, "deadletter"), slices.Index(refused.order, "retry")
		refused.order[d], refused.order[r] = refused.order[r], refused.order[d]
		refused.split = len(refused.order)
		mw, _ := refused.middleware(dead, store)
		if _, err := eventbus.NewRouter(sub, g.name, eventbus.WithMiddleware(mw...)); !errors.Is(err, eventbus.ErrInvalidOption) {
			t.Errorf("NewRouter with %v = %v, want ErrInvalidOption (DeadLetter inside Retry)", refused.order, err)
		}
	}
	r, err := eventbus.NewRouter(sub, g.name, eventbus.WithLogger(quietLogger()),
		eventbus.WithConcurrency(g.concurrency), eventbus.WithMiddleware(routerMW...))
	if err != nil {
		t.Fatalf("NewRouter(%v): %v", g.order, err)
	}
	for _, p := range g.patterns {
		if err := r.Handle(c.prefix+"."+p, c.handler(g.name, p), eventbus.HandlerMiddleware(handlerMW...)); err != nil {
			t.Fatalf("Handle(%s): %v", p, err)
		}
	}
	if err := r.Start(c.s.ctx(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	m := &member{in: in, router: r}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return m
}

// handler is the scripted handler of pattern p in group.
func (c *composition) handler(group, p string) eventbus.Handler {
	return func(ctx context.Context, m *eventbus.Message) error {
		info, _ := eventbus.DeliveryFromContext(ctx)
		i, ok := c.index[m.ID]
		if !ok {
			return retry.Permanent(fmt.Errorf("composition: unknown message %s", m.ID))
		}
		k := deliveryKey{m.ID, group, info.Handler}
		sk := scriptKey{i, group, p}
		_, o := c.l.begin(k, info.Attempt, func(n int) outcome { return c.sc.outcome(sk, n) })
		switch o {
		case outcomeOK:
			c.l.succeeded(k)
			return nil
		case outcomeError:
			return errScripted
		case outcomeRetry:
			return &eventbus.RetryError{Err: errBusy, Delay: retryOwnDelay}
		case outcomePermanent:
			return retry.Permanent(errPoison)
		case outcomePanic:
			panic("composition: panic")
		case outcomeTimeout:
			<-ctx.Done()
			return ctx.Err()
		default: // outcomeCrash: the process dies while the call runs
			if c.draining.Load() {
				return errCrashed
			}
			released := make(chan struct{})
			select {
			case c.crash <- crashRequest{group: group, released: released}:
				<-released
			case <-ctx.Done():
			}
			return errCrashed
		}
	}
}
