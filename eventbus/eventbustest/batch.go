package eventbustest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
)

// runBatch runs the batch cases: eventbus.FetchBatch on the adapter's
// subscription (its NextBatch where it has one, the fallback otherwise),
// and a Router's batch handler through a partial failure and a Close.
func (s *suite) runBatch(t *testing.T) {
	t.Run("BatchFetch", s.batchFetch)
	t.Run("BatchPartialFailure", s.batchPartialFailure)
	t.Run("BatchCloseWithInFlight", s.batchCloseInFlight)
}

// fetchBatch calls eventbus.FetchBatch and checks the contract's shape:
// deliveries and no error, or an error and no delivery.
func (s *suite) fetchBatch(t *testing.T, ctx context.Context, sn eventbus.Subscription, limit int, wait time.Duration) ([]eventbus.Delivery, error) {
	t.Helper()
	ds, err := eventbus.FetchBatch(ctx, sn, limit, wait)
	if (err == nil) == (len(ds) == 0) || len(ds) > max(limit, 1) {
		t.Fatalf("FetchBatch(max %d) returned %d deliveries and error %v: want 1 to %d and no error, or none and an error", limit, len(ds), err, max(limit, 1))
	}
	return ds, err
}

func (s *suite) batchFetch(t *testing.T) {
	in := s.connect(t)
	p := prefix()
	sn := s.subscribe(t, in.Subscriber, "batching", p+".order.created", eventbus.WithPrefetch(10))
	var msgs []*eventbus.Message
	for i := range 5 {
		msgs = append(msgs, msg(p+".order.created", "", i))
	}
	s.publish(t, in.Publisher, msgs...)

	// A batch returns as soon as it is full, however long its window.
	seen := map[string]int{}
	first, err := s.fetchBatch(t, s.ctx(t), sn, 3, s.cfg.Timeout)
	if err != nil {
		t.Fatalf("FetchBatch: %v", err)
	}
	if len(first) != 3 {
		t.Fatalf("first batch of %d with 5 published, want the 3 asked for", len(first))
	}
	var nacked eventbus.Delivery
	for i, d := range first {
		seen[d.Message().ID]++
		if i == 0 {
			nacked = d
			continue
		}
		if err := d.Ack(s.ctx(t)); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	if err := nacked.Nack(s.ctx(t), 0); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	// The rest, and the nacked one again, in batches of whatever arrives.
	for len(seen) < 5 || seen[nacked.Message().ID] < 2 {
		ds, err := s.fetchBatch(t, s.ctx(t), sn, 10, 50*time.Millisecond)
		if err != nil {
			t.Fatalf("FetchBatch: %v (seen %v)", err, seen)
		}
		for _, d := range ds {
			id := d.Message().ID
			seen[id]++
			if id == nacked.Message().ID && d.Attempt() != 2 {
				t.Errorf("nacked message redelivered as attempt %d, want 2", d.Attempt())
			}
			if id != nacked.Message().ID && seen[id] > 1 {
				t.Errorf("acked message %s delivered again", id)
			}
			if err := d.Ack(s.ctx(t)); err != nil {
				t.Fatalf("Ack: %v", err)
			}
		}
	}
	for _, m := range msgs {
		if seen[m.ID] == 0 {
			t.Errorf("message %s never fetched", m.ID)
		}
	}

	// Errors come alone: a done context before the first delivery, then
	// ErrClosed once the subscription is closed.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.fetchBatch(t, done, sn, 3, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("FetchBatch with a cancelled context: %v, want context.Canceled", err)
	}
	if err := sn.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.fetchBatch(t, s.ctx(t), sn, 3, time.Second); !errors.Is(err, eventbus.ErrClosed) {
		t.Fatalf("FetchBatch after Close: %v, want ErrClosed", err)
	}
}

// batchPartialFailure: one message of a batch that fails is retried alone
// and dead-lettered when it keeps failing, one that fails permanently is
// dead-lettered at once, and the others of the batch are handled once.
func (s *suite) batchPartialFailure(t *testing.T) {
	in := s.connect(t)
	p := prefix()
	dlq := s.subscribe(t, in.Subscriber, "parking", eventbus.DeadLetterPrefix+p+".job.>")
	var (
		mu      sync.Mutex
		handled = map[string]int{}
		retried [][]string // the batches that held the failing message after its first
	)
	r, err := eventbus.NewRouter(subscriberWith{in.Subscriber, s.cfg.SubscribeOptions}, "batch-worker",
		eventbus.WithLogger(quietLogger()), eventbus.WithMiddleware(
			eventbus.DeadLetter(in.Publisher, eventbus.DeadLetterLogger(quietLogger())),
			eventbus.Retry(retry.Policy{MaxAttempts: 3, Backoff: retry.Backoff{Initial: time.Millisecond, Jitter: retry.NoJitter}}),
		))
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	err = r.HandleBatch(p+".job.>", func(ctx context.Context, msgs []*eventbus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		failed := &eventbus.BatchError{}
		var batch []string
		for i, m := range msgs {
			handled[m.ID]++
			batch = append(batch, m.Subject)
			switch m.Subject {
			case "flaky":
				failed.Fail(i, errBoom)
			case "poison":
				failed.Fail(i, retry.Permanent(errBoom))
			}
		}
		if slices.Contains(batch, "flaky") && handled[msgs[slices.Index(batch, "flaky")].ID] > 1 {
			retried = append(retried, batch)
		}
		return failed.Err()
	}, eventbus.HandlerBatchSize(10), eventbus.HandlerBatchWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("HandleBatch: %v", err)
	}
	if err := r.Start(s.ctx(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	var all, good []*eventbus.Message
	for i := range 8 {
		subject := fmt.Sprint("job-", i)
		switch i {
		case 2:
			subject = "flaky"
		case 5:
			subject = "poison"
		}
		m := msg(p+".job.run", subject, i)
		all = append(all, m)
		if i != 2 && i != 5 {
			good = append(good, m)
		}
	}
	s.publish(t, in.Publisher, all...)

	parked := map[string]string{} // subject: reason
	for range 2 {
		d := s.next(t, dlq)
		parked[d.Message().Subject] = d.Message().Metadata[eventbus.MetaDeadLetterReason]
		_ = d.Ack(s.ctx(t))
	}
	if !strings.Contains(parked["flaky"], "failed 3 attempts") || !strings.Contains(parked["poison"], errBoom.Error()) ||
		strings.Contains(parked["poison"], "attempts") {
		t.Fatalf("dead letters %q: want flaky after 3 attempts, poison at once", parked)
	}
	if err := r.Close(s.ctx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range good {
		if handled[m.ID] != 1 {
			t.Errorf("good message %s handled %d times, want once", m.Subject, handled[m.ID])
		}
	}
	if n := handled[all[2].ID]; n != 3 {
		t.Errorf("flaky message handled %d times, want 3 (MaxAttempts)", n)
	}
	if n := handled[all[5].ID]; n != 1 {
		t.Errorf("poison message handled %d times, want once", n)
	}
	for _, b := range retried {
		if len(b) != 1 {
			t.Errorf("the failing message was retried in the batch %v, want alone", b)
		}
	}
}

// batchCloseInFlight: Close waits for the batch in flight and acks it;
// the next instance of the group receives only what that batch did not
// hold.
func (s *suite) batchCloseInFlight(t *testing.T) {
	one, two := s.connect(t), s.connect(t)
	p := prefix()
	pattern := p + ".order.created"
	started, release := make(chan []string, 1), make(chan struct{})
	r1, err := eventbus.NewRouter(subscriberWith{one.Subscriber, s.cfg.SubscribeOptions}, "batch-closing", eventbus.WithLogger(quietLogger()))
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	t.Cleanup(func() { _ = r1.Close(context.Background()) })
	if err := r1.HandleBatch(pattern, func(ctx context.Context, msgs []*eventbus.Message) error {
		select {
		case started <- ids(msgs):
			<-release
		default:
		}
		return nil
	}, eventbus.HandlerBatchSize(3), eventbus.HandlerBatchWait(time.Second)); err != nil {
		t.Fatalf("HandleBatch: %v", err)
	}
	if err := r1.Start(s.ctx(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	var msgs []*eventbus.Message
	for i := range 8 {
		msgs = append(msgs, msg(pattern, "", i))
	}
	s.publish(t, one.Publisher, msgs...)
	var inFlight []string
	select {
	case inFlight = <-started:
	case <-time.After(s.cfg.Timeout):
		t.Fatal("no batch started")
	}
	closed := make(chan error, 1)
	go func() { closed <- r1.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a batch was in flight", err)
	default:
	}
	close(release)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(s.cfg.Timeout):
		t.Fatal("Close did not return after the in-flight batch finished")
	}
	// r1 may have handled more batches than the first before it closed:
	// what reaches the second instance must be disjoint from the first
	// batch, and with it cover every message.
	rec := newRecorder()
	s.startRouter(t, two.Subscriber, "batch-closing", pattern, func(ctx context.Context, m *eventbus.Message) error {
		rec.add(m)
		return nil
	})
	marker := msg(pattern, "", 99)
	s.publish(t, two.Publisher, marker)
	s.waitFor(t, rec, "the marker published after Close", func() bool { return rec.has([]string{marker.ID}) })
	for _, id := range inFlight {
		if rec.has([]string{id}) {
			t.Errorf("message %s was in the batch Close waited for and was delivered again", id)
		}
	}
}
