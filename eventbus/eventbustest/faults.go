package eventbustest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/retry"
)

var errBoom = errors.New("boom: cannot handle this message")

func (s *suite) deadLetter(t *testing.T) {
	in := s.connect(t)
	p := prefix()
	dlq := s.subscribe(t, in.Subscriber, "parking", eventbus.DeadLetterPrefix+p+".job.>")
	handled := newRecorder()
	var poisonAttempts atomic.Int32
	r := s.startRouter(t, in.Subscriber, "worker", p+".job.>", func(ctx context.Context, m *eventbus.Message) error {
		if m.Subject == "poison" {
			poisonAttempts.Add(1)
			return errBoom
		}
		handled.add(m)
		return nil
	}, eventbus.WithConcurrency(2), eventbus.WithMiddleware(
		eventbus.DeadLetter(in.Publisher, eventbus.DeadLetterLogger(quietLogger())),
		eventbus.Retry(retry.Policy{MaxAttempts: 3, Backoff: retry.Backoff{Initial: time.Millisecond, Jitter: retry.NoJitter}}),
	))
	poison := msg(p+".job.run", "poison", 0)
	s.publish(t, in.Publisher, poison)
	var good []*eventbus.Message
	for i := range 10 {
		good = append(good, msg(p+".job.run", fmt.Sprint("job-", i), i))
	}
	s.publish(t, in.Publisher, good...)

	d := s.next(t, dlq)
	dl := d.Message()
	_ = d.Ack(s.ctx(t))
	if dl.Type != eventbus.DeadLetterPrefix+poison.Type || string(dl.Data) != string(poison.Data) || dl.Subject != poison.Subject {
		t.Fatalf("dead letter %+v does not carry the poison message %+v", dl, poison)
	}
	for key, want := range map[string]string{
		eventbus.MetaDeadLetterOriginalType: poison.Type,
		eventbus.MetaDeadLetterOriginalID:   poison.ID,
		eventbus.MetaDeadLetterAttempts:     "3",
		eventbus.MetaDeadLetterHandler:      p + ".job.>",
		eventbus.MetaDeadLetterGroup:        "worker",
	} {
		if got := dl.Metadata[key]; got != want {
			t.Errorf("dead letter metadata %s = %q, want %q", key, got, want)
		}
	}
	if reason := dl.Metadata[eventbus.MetaDeadLetterReason]; !strings.Contains(reason, errBoom.Error()) {
		t.Errorf("dead letter reason %q does not name the failure %q", reason, errBoom)
	}
	if _, err := time.Parse(time.RFC3339Nano, dl.Metadata[eventbus.MetaDeadLetterTime]); err != nil {
		t.Errorf("dead letter time: %v", err)
	}
	// The consumer keeps processing the rest.
	s.waitFor(t, handled, "the good messages", func() bool { return handled.has(ids(good)) })
	more := msg(p+".job.run", "after", 11)
	s.publish(t, in.Publisher, more)
	s.waitFor(t, handled, "a message after the poison one", func() bool { return handled.has([]string{more.ID}) })
	if err := r.Close(s.ctx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := poisonAttempts.Load(); n != 3 {
		t.Errorf("poison message handled %d times, want 3 (MaxAttempts)", n)
	}
}

func (s *suite) orderPerSubject(t *testing.T) {
	in := s.connect(t)
	p := prefix()
	rec := newRecorder()
	var failed atomicMap
	s.startRouter(t, in.Subscriber, "ordered", p+".acct.>", func(ctx context.Context, m *eventbus.Message) error {
		// The second message of each subject fails once: its successors
		// must wait for its redelivery.
		if strings.HasSuffix(string(m.Data), `:1}`) && failed.add(m.ID) {
			return errBoom
		}
		rec.add(m)
		return nil
	}, eventbus.WithConcurrency(4))
	want := map[string][]string{}
	var all []*eventbus.Message
	for i := range 10 {
		for _, subj := range []string{"acct-a", "acct-b", "acct-c"} {
			m := msg(p+".acct.moved", subj, i)
			want[subj] = append(want[subj], m.ID)
			all = append(all, m)
		}
	}
	s.publish(t, in.Publisher, all...)
	s.waitFor(t, rec, "every message", func() bool { return rec.has(ids(all)) })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for subj, w := range want {
		if got := rec.order[subj]; !slices.Equal(got, w) {
			t.Errorf("subject %s handled in order %v, want %v", subj, got, w)
		}
	}
}

func (s *suite) closeInFlight(t *testing.T) {
	one, two := s.connect(t), s.connect(t)
	p := prefix()
	pattern := p + ".order.created"
	started, release := make(chan string, 1), make(chan struct{})
	var first atomicMap // what the first instance finished
	r1 := s.startRouter(t, one.Subscriber, "closing", pattern, func(ctx context.Context, m *eventbus.Message) error {
		select {
		case started <- m.ID:
			<-release
		default:
		}
		first.add(m.ID)
		return nil
	}, eventbus.WithConcurrency(1))
	var msgs []*eventbus.Message
	for i := range 5 {
		msgs = append(msgs, msg(pattern, "", i))
	}
	s.publish(t, one.Publisher, msgs...)
	var inFlight string
	select {
	case inFlight = <-started:
	case <-time.After(s.cfg.Timeout):
		t.Fatal("no handler started")
	}
	closed := make(chan error, 1)
	go func() { closed <- r1.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a handler was in flight", err)
	default:
	}
	close(release)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(s.cfg.Timeout):
		t.Fatal("Close did not return after the in-flight handler finished")
	}
	if !first.has(inFlight) {
		t.Fatalf("the in-flight message %s did not finish before Close returned", inFlight)
	}
	// Everything the first instance did not finish goes to the next
	// instance of the group; what it finished was acknowledged.
	rec := newRecorder()
	s.startRouter(t, two.Subscriber, "closing", pattern, func(ctx context.Context, m *eventbus.Message) error {
		rec.add(m)
		return nil
	}, eventbus.WithConcurrency(2))
	var rest, done []string
	for _, m := range msgs {
		if first.has(m.ID) {
			done = append(done, m.ID)
		} else {
			rest = append(rest, m.ID)
		}
	}
	s.waitFor(t, rec, "the messages not handled before Close", func() bool { return rec.has(rest) })
	for _, id := range done {
		if rec.has([]string{id}) {
			t.Errorf("message %s was handled before Close and delivered again", id)
		}
	}
}

func (s *suite) killedConsumer(t *testing.T) {
	one, two := s.connect(t), s.connect(t)
	p := prefix()
	pattern := p + ".payment.captured"
	a := s.subscribe(t, one.Subscriber, "payments", pattern, eventbus.WithPrefetch(1))
	m := msg(pattern, "pay-1", 1)
	s.publish(t, one.Publisher, m)
	d := s.next(t, a)
	if d.Message().ID != m.ID {
		t.Fatalf("got %s, want %s", d.Message().ID, m.ID)
	}
	// The process dies before acknowledging.
	if err := one.Subscriber.Close(s.ctx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	b := s.subscribe(t, two.Subscriber, "payments", pattern, eventbus.WithPrefetch(1))
	d2 := s.next(t, b)
	if d2.Message().ID != m.ID || d2.Attempt() < 2 {
		t.Fatalf("other instance got %s attempt %d, want %s redelivered (attempt >= 2)", d2.Message().ID, d2.Attempt(), m.ID)
	}
	if err := d2.Ack(s.ctx(t)); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := d.Ack(s.ctx(t)); err == nil {
		t.Log("the dead instance's late Ack was accepted; the broker may ignore it")
	}
}

func (s *suite) brokerRestart(t *testing.T) {
	pubIn, subIn := s.connect(t), s.connect(t)
	p := prefix()
	pattern := p + ".order.>"
	rec := newRecorder()
	s.startRouter(t, subIn.Subscriber, "survivor", pattern, func(ctx context.Context, m *eventbus.Message) error {
		rec.add(m)
		return nil
	}, eventbus.WithConcurrency(4), eventbus.WithMiddleware(eventbus.Retry(retry.Policy{MaxAttempts: 100, Backoff: retry.Backoff{Initial: 10 * time.Millisecond, Jitter: retry.NoJitter}})))
	const total, restartAt = 200, 100
	sent := make([]string, 0, total)
	halfway, published := make(chan struct{}), make(chan error, 1)
	ctx := s.ctx(t)
	go func() {
		for i := range total {
			if i == restartAt {
				close(halfway)
			}
			m := msg(p+".order.created", fmt.Sprint("order-", i%7), i)
			// Publish returns only once the broker stored the message;
			// while it is down the adapter retries until ctx ends.
			if err := pubIn.Publisher.Publish(ctx, m); err != nil {
				published <- fmt.Errorf("publish %d of %d: %w", i, total, err)
				return
			}
			sent = append(sent, m.ID)
		}
		published <- nil
	}()
	<-halfway
	s.cfg.Restart(t)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, rec, fmt.Sprintf("all %d messages handled after the restart", total), func() bool {
		return rec.has(sent)
	})
	if missing := rec.missing(sent); len(missing) > 0 {
		t.Fatalf("%d messages lost: %v", len(missing), missing)
	}
}
