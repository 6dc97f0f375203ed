package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
)

// stopAfterPublish publishes through its publisher and then calls stop:
// the relay's Run is stopped right after a round published, before the
// round marks its events sent.
type stopAfterPublish struct {
	eventbus.Publisher
	stop func()
}

func (p stopAfterPublish) Publish(ctx context.Context, msgs ...*eventbus.Message) error {
	err := p.Publisher.Publish(ctx, msgs...)
	p.stop()
	return err
}

// TestRelayStoppedMidRoundMarksWhatItPublished: a relay whose Run is
// stopped after its round published (a service closing) marks the round's
// events sent and tells its listeners, so a relay started afterwards
// publishes the rest and nothing twice.
func TestRelayStoppedMidRoundMarksWhatItPublished(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			d := be.Open(t)
			var ids []string
			for i := range 5 {
				e := orderCreated(t, fmt.Sprint("order-", i), i)
				ids = append(ids, e.ID)
				if err := createOrder(context.Background(), d.db, e.Subject, e); err != nil {
					t.Fatal(err)
				}
			}
			pub := &flakyPublisher{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var relayed []outbox.Event
			listener := outbox.ListenerFunc(func(_ context.Context, e outbox.Event) { relayed = append(relayed, e) })
			first := newRelay(t, d, stopAfterPublish{Publisher: pub, stop: cancel},
				outbox.WithBatchSize(3), outbox.WithListener(listener))
			if err := first.Run(ctx); err != nil {
				t.Fatalf("Run = %v", err)
			}
			if n := d.count(t, "SELECT count(*) FROM microkit_outbox WHERE sent_at IS NOT NULL"); n != 3 {
				t.Errorf("%d events marked sent by the stopped relay, want the 3 of its round", n)
			}
			if len(relayed) != 1 || relayed[0].Kind != outbox.EventRelayed || relayed[0].Events != 3 {
				t.Errorf("listener events of the stopped relay = %+v, want one relayed of 3", relayed)
			}

			second := newRelay(t, d, pub)
			drain(t, second)
			pub.mu.Lock()
			defer pub.mu.Unlock()
			if !slices.Equal(pub.sent, ids) {
				t.Errorf("published %v, want each event once: %v", pub.sent, ids)
			}
		})
	}
}

// TestRelayStoppedMidPublishRecordsNoFailure: a publish that fails
// because Run is stopped is no failure of its events: they stay unsent
// with no attempt counted, and the next relay publishes them.
func TestRelayStoppedMidPublishRecordsNoFailure(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			d := be.Open(t)
			e := orderCreated(t, "order-1", 1)
			if err := createOrder(context.Background(), d.db, e.Subject, e); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			interrupted := eventbus.PublisherFunc(func(ctx context.Context, _ ...*eventbus.Message) error {
				cancel()
				return ctx.Err()
			})
			if err := newRelay(t, d, interrupted).Run(ctx); err != nil {
				t.Fatalf("Run = %v", err)
			}
			if n := d.count(t, "SELECT count(*) FROM microkit_outbox WHERE sent_at IS NULL AND attempts = 0 AND last_error IS NULL"); n != 1 {
				t.Errorf("%d events unsent with no attempt recorded, want 1", n)
			}
			pub := &flakyPublisher{}
			drain(t, newRelay(t, d, pub))
			if !slices.Equal(pub.sent, []string{e.ID}) {
				t.Errorf("next relay published %v, want %v", pub.sent, []string{e.ID})
			}
		})
	}
}

// TestInboxCommitsAHandlerThatFinishedAsItsContextEnded: a handler that
// did its work and returned nil as its delivery's context ended (a
// deadline passing) has its work and its mark committed, so the message
// is not handled again.
func TestInboxCommitsAHandlerThatFinishedAsItsContextEnded(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			d := be.Open(t)
			in := newInbox(t, d)
			msg := orderCreated(t, "order-1", 1)
			runs := 0
			h := func(ctx context.Context, tx *sql.Tx, m *eventbus.Message) error {
				runs++
				_, err := tx.ExecContext(ctx, "INSERT INTO orders (id, total) VALUES ($1, $2)", m.Subject, runs)
				return err
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ran, err := in.Process(ctx, "billing", msg, func(ctx context.Context, tx *sql.Tx, m *eventbus.Message) error {
				err := h(ctx, tx, m)
				cancel()
				return err
			})
			if !ran || err != nil {
				t.Fatalf("Process of a handler that finished as its context ended = %v, %v; want true, nil", ran, err)
			}
			if ran, err := in.Process(context.Background(), "billing", msg, h); ran || err != nil {
				t.Fatalf("Process of the redelivery = %v, %v; want false, nil", ran, err)
			}
			if runs != 1 {
				t.Errorf("handler ran %d times, want once", runs)
			}
			if n := d.count(t, "SELECT count(*) FROM orders"); n != 1 {
				t.Errorf("%d orders committed, want 1", n)
			}
		})
	}
}
