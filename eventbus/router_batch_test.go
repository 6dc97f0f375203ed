package eventbus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
)

// batchLog records the batches a batch handler saw: the order IDs of each,
// and when it ran.
type batchLog struct {
	mu      sync.Mutex
	batches [][]string
	at      []time.Time
}

func (l *batchLog) add(ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches = append(l.batches, ids)
	l.at = append(l.at, time.Now())
}

func (l *batchLog) get() ([][]string, []time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.batches), slices.Clone(l.at)
}

// publishOrders publishes orders o-1 … o-n in one call.
func publishOrders(t *testing.T, p eventbus.Publisher, n int) {
	t.Helper()
	msgs := make([]*eventbus.Message, n)
	for i := range msgs {
		m, err := eventbus.NewMessage("order.created", orderCreated{OrderID: fmt.Sprintf("o-%d", i+1)})
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = m
	}
	if err := p.Publish(ctxT(t), msgs...); err != nil {
		t.Fatal(err)
	}
}

func newBatchRouter(t *testing.T, bus eventbus.Subscriber, opts ...eventbus.RouterOption) *eventbus.Router {
	t.Helper()
	r, err := eventbus.NewRouter(bus, "billing", append([]eventbus.RouterOption{eventbus.WithLogger(quiet())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// TestBatchPartialFailure: a message that fails in a batch is retried
// alone, as a batch of one, and dead-lettered alone when it fails for
// good; one that fails permanently is dead-lettered at once; the others
// of the batch are handled once. It runs in a testing/synctest bubble, so
// the batch window and the retry delay are exact.
func TestBatchPartialFailure(t *testing.T) {
	for _, chain := range []struct {
		name string
		mws  func(eventbus.Publisher) []eventbus.Middleware
	}{
		{"retry and dead letter", func(p eventbus.Publisher) []eventbus.Middleware {
			return []eventbus.Middleware{
				eventbus.Correlate(),
				eventbus.DeadLetter(p, eventbus.DeadLetterLogger(quiet())),
				eventbus.Retry(retry.Policy{MaxAttempts: 2, Backoff: retry.Backoff{Initial: time.Second, Jitter: retry.NoJitter}}),
				eventbus.Timeout(time.Minute),
			}
		}},
	} {
		t.Run(chain.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				bus := newBus(t)
				dlq, err := bus.Subscribe(ctxT(t), "ops", "deadletter.>")
				if err != nil {
					t.Fatal(err)
				}
				var log batchLog
				r := newBatchRouter(t, bus, eventbus.WithMiddleware(chain.mws(bus)...))
				err = eventbus.OnBatch(r, "order.created", func(ctx context.Context, events []orderCreated) error {
					var ids []string
					failed := &eventbus.BatchError{}
					for i, e := range events {
						ids = append(ids, e.OrderID)
						switch e.OrderID {
						case "o-3":
							failed.Fail(i, errors.New("ledger row locked"))
						case "o-4":
							failed.Fail(i, retry.Permanent(errors.New("unknown currency")))
						}
					}
					log.add(ids)
					return failed.Err()
				}, eventbus.HandlerBatchSize(5), eventbus.HandlerBatchWait(100*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Start(ctxT(t)); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				publishOrders(t, bus, 5)
				reasons := map[string]string{}
				for range 2 {
					d, err := dlq.Next(ctxT(t))
					if err != nil {
						t.Fatal(err)
					}
					var e orderCreated
					if e, err = eventbus.Decode[orderCreated](d.Message()); err != nil {
						t.Fatal(err)
					}
					reasons[e.OrderID] = d.Message().Metadata[eventbus.MetaDeadLetterReason]
					_ = d.Ack(ctxT(t))
				}
				synctest.Wait() // nothing else is redelivered
				batches, at := log.get()
				want := [][]string{{"o-1", "o-2", "o-3", "o-4", "o-5"}, {"o-3"}}
				if !slices.EqualFunc(batches, want, slices.Equal) {
					t.Fatalf("batches %v, want %v", batches, want)
				}
				// The full batch goes at once; the retry, alone, after the
				// policy's second and the batch window.
				if got := []time.Duration{at[0].Sub(start), at[1].Sub(start)}; !slices.Equal(got, []time.Duration{0, 1100 * time.Millisecond}) {
					t.Fatalf("batches ran at %v", got)
				}
				if !strings.Contains(reasons["o-4"], "unknown currency") || reasons["o-3"] != "eventbus: failed 2 attempts: ledger row locked" {
					t.Fatalf("dead letters %q", reasons)
				}
			})
		})
	}
}

// TestBatchOutcomes: what a batch handler returns decides the fate of every
// message of the batch: nil acks them all, a plain error and a panic
// redeliver them all, a *BatchError only the messages it names.
func TestBatchOutcomes(t *testing.T) {
	tests := []struct {
		name string
		fail func(msgs []*eventbus.Message) error // on the first batch only
		want [][]int                              // batch sizes: the second batch holds the redelivered
	}{
		{"nil acks all", func([]*eventbus.Message) error { return nil }, [][]int{{3}}},
		{"plain error fails all", func([]*eventbus.Message) error { return errors.New("db down") }, [][]int{{3}, {3}}},
		{"panic fails all", func([]*eventbus.Message) error { panic("bug") }, [][]int{{3}, {3}}},
		{"batch error fails those named", func([]*eventbus.Message) error {
			return &eventbus.BatchError{Failed: map[int]error{0: errors.New("x"), 2: errors.New("y"), 7: errors.New("out of range"), 1: nil}}
		}, [][]int{{3}, {2}}},
		{"wrapped batch error", func([]*eventbus.Message) error {
			be := &eventbus.BatchError{}
			be.Fail(1, errors.New("x"))
			return fmt.Errorf("insert: %w", be)
		}, [][]int{{3}, {1}}},
		{"empty batch error acks all", func([]*eventbus.Message) error { return (&eventbus.BatchError{}).Err() }, [][]int{{3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				bus := newBus(t)
				var (
					mu    sync.Mutex
					sizes []int
				)
				r := newBatchRouter(t, bus)
				err := r.HandleBatch("order.created", func(ctx context.Context, msgs []*eventbus.Message) error {
					mu.Lock()
					sizes = append(sizes, len(msgs))
					first := len(sizes) == 1
					mu.Unlock()
					if first {
						return tt.fail(msgs)
					}
					return nil
				}, eventbus.HandlerBatchSize(10), eventbus.HandlerBatchWait(time.Second))
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Start(ctxT(t)); err != nil {
					t.Fatal(err)
				}
				publishOrders(t, bus, 3)
				time.Sleep(time.Minute) // fake time: every window and redelivery passes
				synctest.Wait()
				mu.Lock()
				defer mu.Unlock()
				var want []int
				for _, w := range tt.want {
					want = append(want, w...)
				}
				if !slices.Equal(sizes, want) {
					t.Fatalf("batch sizes %v, want %v", sizes, want)
				}
			})
		})
	}
}

// TestBatchMiddlewarePerMessage: middleware runs per message around its
// outcome: a middleware that returns without calling next keeps its
// message out of the batch (and acks it), Correlate's id reaches the batch
// through BatchInfo.Context, Timeout's deadline bounds the batch, and a
// middleware that calls next twice runs its message alone the second time.
func TestBatchMiddlewarePerMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := newBus(t)
		var log batchLog
		skip := func(next eventbus.Handler) eventbus.Handler { // a dedupe that has seen o-2
			return func(ctx context.Context, m *eventbus.Message) error {
				if e, _ := eventbus.Decode[orderCreated](m); e.OrderID == "o-2" {
					return nil
				}
				return next(ctx, m)
			}
		}
		twice := func(next eventbus.Handler) eventbus.Handler {
			return func(ctx context.Context, m *eventbus.Message) error {
				err := next(ctx, m)
				if e, _ := eventbus.Decode[orderCreated](m); e.OrderID == "o-3" {
					return next(ctx, m)
				}
				return err
			}
		}
		var (
			correlations []string
			deadline     time.Duration
		)
		start := time.Now()
		r := newBatchRouter(t, bus, eventbus.WithMiddleware(eventbus.Correlate(), skip, twice))
		err := r.HandleBatch("order.created", func(ctx context.Context, msgs []*eventbus.Message) error {
			var ids []string
			b, ok := eventbus.BatchFromContext(ctx)
			if !ok || b.Len() != len(msgs) || b.Handler != "order.created" || b.Group != "billing" {
				t.Errorf("batch info %+v, %v", b, ok)
			}
			for i, m := range msgs {
				e, _ := eventbus.Decode[orderCreated](m)
				ids = append(ids, e.OrderID)
				if len(msgs) == 3 { // the first batch
					correlations = append(correlations, eventbus.CorrelationIDFromContext(b.Context(i)))
				}
				if info, _ := eventbus.DeliveryFromContext(b.Context(i)); info.Message != m {
					t.Errorf("message %d: delivery info of %s", i, info.Message.ID)
				}
			}
			if d, ok := ctx.Deadline(); ok && deadline == 0 {
				deadline = d.Sub(start)
			}
			log.add(ids)
			return nil
		}, eventbus.HandlerBatchSize(4), eventbus.HandlerBatchWait(time.Second),
			eventbus.HandlerMiddleware(eventbus.Timeout(5*time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		publishOrders(t, bus, 4)
		synctest.Wait()
		batches, _ := log.get()
		if want := [][]string{{"o-1", "o-3", "o-4"}, {"o-3"}}; !slices.EqualFunc(batches, want, slices.Equal) {
			t.Fatalf("batches %v, want %v", batches, want)
		}
		if len(correlations) != 3 || slices.Contains(correlations, "") || correlations[0] == correlations[1] {
			t.Fatalf("correlation ids %q", correlations)
		}
		if deadline != 5*time.Second {
			t.Fatalf("batch deadline %v after start, want the messages' Timeout, 5s", deadline)
		}
	})
}

// TestBatchCloseSettlesInFlight: Close waits for the batch in flight and
// acks its messages; what was not fetched stays for the next router.
func TestBatchCloseSettlesInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := newBus(t)
		entered, release := make(chan int), make(chan struct{})
		r := newBatchRouter(t, bus)
		err := r.HandleBatch("order.created", func(ctx context.Context, msgs []*eventbus.Message) error {
			entered <- len(msgs)
			<-release
			return nil
		}, eventbus.HandlerBatchSize(2))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		publishOrders(t, bus, 3)
		if n := <-entered; n != 2 {
			t.Fatalf("first batch of %d, want 2", n)
		}
		closed := make(chan error)
		go func() { closed <- r.Close(ctxT(t)) }()
		synctest.Wait()
		close(release)
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		// A new router receives the third message only: the first two
		// were acked by the closing one.
		var log batchLog
		r2 := newBatchRouter(t, bus)
		if err := eventbus.OnBatch(r2, "order.created", func(ctx context.Context, events []orderCreated) error {
			var ids []string
			for _, e := range events {
				ids = append(ids, e.OrderID)
			}
			log.add(ids)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := r2.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // fake time: past the window
		synctest.Wait()
		if batches, _ := log.get(); !slices.EqualFunc(batches, [][]string{{"o-3"}}, slices.Equal) {
			t.Fatalf("after close, batches %v, want [[o-3]]", batches)
		}
	})
}

// TestBatchOptions: batch options are refused by Handle and checked by
// HandleBatch.
func TestBatchOptions(t *testing.T) {
	bus := newBus(t)
	noopBatch := func(context.Context, []*eventbus.Message) error { return nil }
	noop := func(context.Context, *eventbus.Message) error { return nil }
	tests := []struct {
		name string
		reg  func(r *eventbus.Router) error
	}{
		{"size on Handle", func(r *eventbus.Router) error { return r.Handle("a", noop, eventbus.HandlerBatchSize(3)) }},
		{"wait on Handle", func(r *eventbus.Router) error { return r.Handle("a", noop, eventbus.HandlerBatchWait(0)) }},
		{"zero size", func(r *eventbus.Router) error { return r.HandleBatch("a", noopBatch, eventbus.HandlerBatchSize(0)) }},
		{"negative wait", func(r *eventbus.Router) error {
			return r.HandleBatch("a", noopBatch, eventbus.HandlerBatchWait(-time.Second))
		}},
		{"nil handler", func(r *eventbus.Router) error { return r.HandleBatch("a", nil) }},
		{"nil typed handler", func(r *eventbus.Router) error { return eventbus.OnBatch[orderCreated](r, "a", nil) }},
		{"pattern taken", func(r *eventbus.Router) error {
			if err := r.Handle("a", noop); err != nil {
				return err
			}
			return r.HandleBatch("a", noopBatch)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newBatchRouter(t, bus)
			if err := tt.reg(r); !errors.Is(err, eventbus.ErrInvalidOption) {
				t.Fatalf("got %v, want ErrInvalidOption", err)
			}
		})
	}
	r := newBatchRouter(t, bus)
	if err := r.HandleBatch("a", noopBatch, eventbus.HandlerBatchSize(3), eventbus.HandlerBatchWait(0), nil); err != nil {
		t.Fatal(err)
	}
}

// TestOnBatchPoisonAndIndices: OnBatch keeps a message that does not
// decode out of the events (it fails permanently, alone), and the indices
// of the handler's *BatchError are indices in events.
func TestOnBatchPoisonAndIndices(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := newBus(t)
		dlq, err := bus.Subscribe(ctxT(t), "ops", "deadletter.>")
		if err != nil {
			t.Fatal(err)
		}
		var log batchLog
		r := newBatchRouter(t, bus, eventbus.WithMiddleware(eventbus.DeadLetter(bus, eventbus.DeadLetterLogger(quiet()))))
		err = eventbus.OnBatch(r, "order.created", func(ctx context.Context, events []orderCreated) error {
			var ids []string
			failed := &eventbus.BatchError{}
			for i, e := range events {
				ids = append(ids, e.OrderID)
				if e.OrderID == "o-3" && len(events) > 1 {
					failed.Fail(i, errors.New("row locked")) // i is 1 here: the poison message is not in events
				}
			}
			log.add(ids)
			return failed.Err()
		}, eventbus.HandlerBatchSize(3), eventbus.HandlerBatchWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		good1, _ := eventbus.NewMessage("order.created", orderCreated{OrderID: "o-1"})
		good3, _ := eventbus.NewMessage("order.created", orderCreated{OrderID: "o-3"})
		poison := &eventbus.Message{ID: "poison", Type: "order.created", Data: []byte("{")}
		if err := bus.Publish(ctxT(t), good1, poison, good3); err != nil {
			t.Fatal(err)
		}
		d, err := dlq.Next(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if id := d.Message().Metadata[eventbus.MetaDeadLetterOriginalID]; id != "poison" {
			t.Fatalf("dead letter of %q, want the poison message", id)
		}
		time.Sleep(time.Minute) // fake time: the redelivery and its window pass
		synctest.Wait()
		batches, _ := log.get()
		if want := [][]string{{"o-1", "o-3"}, {"o-3"}}; !slices.EqualFunc(batches, want, slices.Equal) {
			t.Fatalf("batches %v, want %v", batches, want)
		}
	})
}
