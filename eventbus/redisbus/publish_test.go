package redisbus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/redisbus"
	"github.com/go-microkit/microkit/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// gate is a client hook that holds every round trip carrying XADDs until
// opened, and reports how many XADDs each one carries as it arrives.
type gate struct {
	open  chan struct{} // closed: round trips pass
	trips chan int      // the XADDs of each round trip, as it reaches the gate
}

func newGate() *gate { return &gate{open: make(chan struct{}), trips: make(chan int, 1024)} }

func (g *gate) pass(n int) {
	if n == 0 {
		return
	}
	g.trips <- n
	<-g.open
}

func (g *gate) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "xadd" {
			g.pass(1)
		}
		return next(ctx, cmd)
	}
}

func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		n := 0
		for _, c := range cmds {
			if c.Name() == "xadd" {
				n++
			}
		}
		g.pass(n)
		return next(ctx, cmds)
	}
}

// gatedBus connects a bus to the shared server on a stream of its own,
// its client behind a gate, and counts the Publish calls that queue
// behind a pipeline in flight on queued.
func gatedBus(t *testing.T) (bus *redisbus.Bus, g *gate, queued chan struct{}, stream string) {
	t.Helper()
	addr := sharedAddr(t)
	stream = uniqueStream(t, addr)
	bus = connect(t, addr, redisbus.WithStream(stream), redisbus.WithTrimInterval(0))
	g = newGate()
	redisbus.Client(bus).AddHook(g)
	queued = make(chan struct{}, 1024)
	redisbus.SetPublishQueueHook(bus, func() { queued <- struct{}{} })
	return bus, g, queued, stream
}

// storedIDs returns the Message.ID of every entry of stream, in order.
func storedIDs(t *testing.T, addr, stream string) []string {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	es, err := rdb.XRange(ctxFor(t), stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i], _ = e.Values["id"].(string)
	}
	return ids
}

func msgIDs(msgs []*eventbus.Message) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

// receive waits for n values of ch, failing the test after a minute.
func receive[T any](t *testing.T, ch <-chan T, n int, what string) []T {
	t.Helper()
	out := make([]T, 0, n)
	timeout := time.After(time.Minute)
	for len(out) < n {
		select {
		case v := <-ch:
			out = append(out, v)
		case <-timeout:
			t.Fatalf("%s: %d of %d after a minute", what, len(out), n)
		}
	}
	return out
}

// TestPublishCoalescesConcurrentCalls: the calls that arrive while a
// pipeline is in flight go together in the next one, each call's messages
// in a row and in order; a lone call goes at once.
func TestPublishCoalescesConcurrentCalls(t *testing.T) {
	bus, g, queued, stream := gatedBus(t)
	ctx := ctxFor(t)
	first := messages("coalesce.first", 1)
	errs := make(chan error, 16)
	go func() { errs <- bus.Publish(ctx, first...) }()
	if n := receive(t, g.trips, 1, "first round trip")[0]; n != 1 {
		t.Fatalf("the lone call's round trip carries %d XADDs, want 1", n)
	}
	calls := make([][]*eventbus.Message, 15)
	for i := range calls {
		calls[i] = messages(fmt.Sprint("coalesce.call", i), 2)
		go func() { errs <- bus.Publish(ctx, calls[i]...) }()
	}
	receive(t, queued, len(calls), "calls queued")
	close(g.open)
	for _, err := range receive(t, errs, 1+len(calls), "Publish calls") {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := receive(t, g.trips, 1, "second round trip")[0]; n != 2*len(calls) {
		t.Fatalf("the queued calls' round trip carries %d XADDs, want %d", n, 2*len(calls))
	}
	ids := storedIDs(t, sharedAddr(t), stream)
	if len(ids) != 1+2*len(calls) || ids[0] != first[0].ID {
		t.Fatalf("stored %d entries starting with %q, want %d starting with the lone call's %q", len(ids), ids[0], 1+2*len(calls), first[0].ID)
	}
	for i, c := range calls {
		at := slices.Index(ids, c[0].ID)
		if at < 0 || at+1 >= len(ids) || ids[at+1] != c[1].ID {
			t.Fatalf("call %d's messages are not stored in a row and in order: %v in %v", i, msgIDs(c), ids)
		}
	}
}

// TestPublishConcurrentStoresEachOnce: many goroutines publishing calls of
// one to three messages at once: every message is stored exactly once,
// each goroutine's in the order it published them.
func TestPublishConcurrentStoresEachOnce(t *testing.T) {
	addr := sharedAddr(t)
	stream := uniqueStream(t, addr)
	bus := connect(t, addr, redisbus.WithStream(stream), redisbus.WithTrimInterval(0))
	const goroutines, calls = 16, 40
	ctx := ctxFor(t)
	sent := make([][]string, goroutines)
	var wg sync.WaitGroup
	for gi := range goroutines {
		wg.Go(func() {
			for c := range calls {
				msgs := messages(fmt.Sprintf("order.g%d", gi), 1+(gi+c)%3)
				if err := bus.Publish(ctx, msgs...); err != nil {
					t.Error(err)
					return
				}
				sent[gi] = append(sent[gi], msgIDs(msgs)...)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	owner := map[string]int{}
	for gi, ids := range sent {
		for _, id := range ids {
			owner[id] = gi
		}
	}
	stored := storedIDs(t, addr, stream)
	seen := make(map[string]bool, len(stored))
	got := make([][]string, goroutines)
	for _, id := range stored {
		gi, ok := owner[id]
		if !ok || seen[id] {
			t.Fatalf("entry %q: published %v, stored before %v; want each published message stored once", id, ok, seen[id])
		}
		seen[id] = true
		got[gi] = append(got[gi], id)
	}
	for gi := range sent {
		if !slices.Equal(got[gi], sent[gi]) {
			t.Fatalf("goroutine %d: stored %d messages in the order %v, published %d as %v", gi, len(got[gi]), got[gi], len(sent[gi]), sent[gi])
		}
	}
}

// TestPublishCancelledCaller: a call whose ctx ends while it waits behind
// a pipeline in flight returns at once, its messages not sent; a call
// whose ctx ends while its pipeline is in flight gets the pipeline's
// outcome; the other calls are not disturbed.
func TestPublishCancelledCaller(t *testing.T) {
	bus, g, queued, stream := gatedBus(t)
	leadCtx, cancelLead := context.WithCancel(ctxFor(t))
	lead := messages("cancel.lead", 1)
	leadErr := make(chan error, 1)
	go func() { leadErr <- bus.Publish(leadCtx, lead...) }()
	receive(t, g.trips, 1, "first round trip")

	goneCtx, cancelGone := context.WithCancel(ctxFor(t))
	gone := messages("cancel.gone", 2)
	goneErr := make(chan error, 1)
	go func() { goneErr <- bus.Publish(goneCtx, gone...) }()
	receive(t, queued, 1, "call queued")
	kept := messages("cancel.kept", 2)
	keptErr := make(chan error, 1)
	go func() { keptErr <- bus.Publish(ctxFor(t), kept...) }()
	receive(t, queued, 1, "call queued")

	cancelGone()
	if err := receive(t, goneErr, 1, "cancelled call")[0]; !errors.Is(err, context.Canceled) {
		t.Fatalf("call cancelled while queued: Publish = %v, want context.Canceled", err)
	}
	cancelLead() // its pipeline is in flight, held by the gate
	close(g.open)
	if err := receive(t, leadErr, 1, "lead call")[0]; err != nil {
		t.Fatalf("call cancelled with its pipeline in flight: Publish = %v, want nil (stored)", err)
	}
	if err := receive(t, keptErr, 1, "kept call")[0]; err != nil {
		t.Fatal(err)
	}
	want := append(msgIDs(lead), msgIDs(kept)...)
	if got := storedIDs(t, sharedAddr(t), stream); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v (the cancelled call's %v not)", got, want, msgIDs(gone))
	}
}

// TestCloseWaitsForPublish: Close with calls in flight and queued waits
// for them: they are stored and return nil, and Publish after Close
// returns eventbus.ErrClosed.
func TestCloseWaitsForPublish(t *testing.T) {
	bus, g, queued, stream := gatedBus(t)
	ctx := ctxFor(t)
	errs := make(chan error, 4)
	go func() { errs <- bus.Publish(ctx, messages("close.lead", 1)...) }()
	receive(t, g.trips, 1, "first round trip")
	for range 3 {
		go func() { errs <- bus.Publish(ctx, messages("close.queued", 1)...) }()
	}
	receive(t, queued, 3, "calls queued")
	closed := make(chan error, 1)
	go func() { closed <- bus.Close(ctx) }()
	// Close has begun once Publish refuses new calls.
	for !errors.Is(bus.Publish(ctx), eventbus.ErrClosed) {
		select {
		case err := <-closed:
			t.Fatalf("Close returned %v with a pipeline in flight", err)
		default:
		}
	}
	if err := bus.Publish(ctx, messages("close.late", 1)...); !errors.Is(err, eventbus.ErrClosed) {
		t.Fatalf("Publish while closing = %v, want eventbus.ErrClosed", err)
	}
	close(g.open)
	if err := receive(t, closed, 1, "Close")[0]; err != nil {
		t.Fatal(err)
	}
	// Close returned: every call in progress had its reply.
	if n := len(storedIDs(t, sharedAddr(t), stream)); n != 4 {
		t.Fatalf("when Close returned %d messages were stored, want the 4 in flight and queued", n)
	}
	for _, err := range receive(t, errs, 4, "Publish calls") {
		if err != nil {
			t.Fatalf("a call in flight during Close: Publish = %v, want nil", err)
		}
	}
}

// TestCloseGivesUpOnPublish: Close whose ctx ends with a call in flight
// closes the client it owns: the calls in flight and queued return
// eventbus.ErrClosed rather than wait.
func TestCloseGivesUpOnPublish(t *testing.T) {
	bus, g, queued, _ := gatedBus(t)
	ctx := ctxFor(t)
	errs := make(chan error, 2)
	go func() { errs <- bus.Publish(ctx, messages("giveup.lead", 1)...) }()
	receive(t, g.trips, 1, "first round trip")
	go func() { errs <- bus.Publish(ctx, messages("giveup.queued", 2)...) }()
	receive(t, queued, 1, "call queued")
	closeCtx, cancel := context.WithCancel(ctx)
	cancel()
	if err := bus.Close(closeCtx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close with an ended ctx = %v, want context.Canceled", err)
	}
	close(g.open)
	for _, err := range receive(t, errs, 2, "Publish calls") {
		if !errors.Is(err, eventbus.ErrClosed) {
			t.Fatalf("a call in flight when Close gave up: Publish = %v, want eventbus.ErrClosed", err)
		}
	}
}

// TestCloseEndsPublishRetries: a call retrying against a server that does
// not answer returns eventbus.ErrClosed when the bus closes, and Close
// waits for it.
func TestCloseEndsPublishRetries(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there: every dial is refused
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	bus, err := redisbus.New(rdb, redisbus.WithLogger(quiet()), redisbus.WithTrimInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	dials := make(chan struct{}, 1024)
	rdb.AddHook(dialHook{dials})
	ctx := ctxFor(t)
	errs := make(chan error, 1)
	go func() { errs <- bus.Publish(ctx, messages("retry.closed", 1)...) }()
	receive(t, dials, 2, "dials") // the first attempt and a retry
	select {
	case err := <-errs:
		t.Fatalf("Publish to a server that is down returned %v before the bus closed", err)
	default:
	}
	if err := bus.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := receive(t, errs, 1, "Publish")[0]; !errors.Is(err, eventbus.ErrClosed) {
		t.Fatalf("Publish retrying when the bus closed = %v, want eventbus.ErrClosed", err)
	}
}

// dialHook reports each dial of the client on its channel.
type dialHook struct{ dials chan<- struct{} }

func (h dialHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		select {
		case h.dials <- struct{}{}:
		default:
		}
		return next(ctx, network, addr)
	}
}
func (h dialHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h dialHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestPublishThroughKill: Redis killed in the middle of a burst of
// concurrent publishers: calls return errors when their ctx ends, none
// hangs, every call that returned nil is stored (in each publisher's
// order), and publishing goes on once Redis is back.
func TestPublishThroughKill(t *testing.T) {
	srv := redistest.Start(t)
	bus := connect(t, srv.Addr(), redisbus.WithTrimInterval(0))
	const publishers = 8
	var (
		mu      sync.Mutex
		phase   int                // 0: before the kill, 1: down, 2: back
		okIn    [publishers][3]int // calls that returned nil, per publisher and phase
		failed  = make(chan struct{}, 1)
		acked   [publishers][]string
		stop    = make(chan struct{})
		started = make(chan struct{}, publishers)
		back    = make(chan struct{}, publishers) // a publisher got 5 calls through after the restart
	)
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			first := true
			for {
				select {
				case <-stop:
					return
				default:
				}
				m := messages(fmt.Sprint("kill.p", p), 1)
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				err := bus.Publish(ctx, m...)
				cancel()
				mu.Lock()
				if err == nil {
					okIn[p][phase]++
					acked[p] = append(acked[p], m[0].ID)
					if phase == 2 && okIn[p][2] == 5 {
						back <- struct{}{}
					}
				} else if phase == 1 {
					select {
					case failed <- struct{}{}:
					default:
					}
				}
				mu.Unlock()
				if first {
					first = false
					started <- struct{}{}
				}
			}
		})
	}
	receive(t, started, publishers, "publishers started")
	mu.Lock()
	phase = 1
	mu.Unlock()
	srv.Kill()
	receive(t, failed, 1, "a call failing while Redis is down")
	srv.Restart(t)
	mu.Lock()
	phase = 2
	mu.Unlock()
	receive(t, back, publishers, "publishers getting calls through after the restart")
	close(stop)
	wg.Wait()
	stored := storedIDs(t, srv.Addr(), "events")
	at := make(map[string]int, len(stored))
	for i, id := range stored {
		if _, dup := at[id]; !dup {
			at[id] = i
		}
	}
	for p := range publishers {
		last := -1
		for _, id := range acked[p] {
			i, ok := at[id]
			if !ok {
				t.Fatalf("publisher %d: message %s acknowledged but not stored", p, id)
			}
			if i < last {
				t.Fatalf("publisher %d: message %s stored before the message published ahead of it", p, id)
			}
			last = i
		}
	}
}
