package outbox_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/outbox"
)

// recorder is a listener that keeps the events it is told of.
type recorder struct {
	mu     sync.Mutex
	events []outbox.Event
}

type ctxKey struct{}

func (r *recorder) OnEvent(ctx context.Context, e outbox.Event) {
	if ctx.Value(ctxKey{}) != "relay ctx" {
		e.Kind = 0 // not the caller's context: fails the comparison below
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// take returns the events recorded since the last call.
func (r *recorder) take() []outbox.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// TestRelayReportsToListeners: a relay tells each of its listeners, with
// the caller's context, of a failed round, a round that published events
// and a prune that deleted some, under its table's name; idle rounds and
// prunes that delete nothing report nothing.
func TestRelayReportsToListeners(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.WithValue(context.Background(), ctxKey{}, "relay ctx")
			d := be.Open(t)
			table := []outbox.Option{outbox.WithTable("billing_outbox")}
			if err := outbox.Migrate(ctx, d.db, d.dialect, table...); err != nil {
				t.Fatal(err)
			}
			ob, err := outbox.New(table...)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := d.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := ob.Add(ctx, tx, orderCreated(t, "o-1", 1), orderCreated(t, "o-2", 1)); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			first, second := &recorder{}, &recorder{}
			listen := append(table, outbox.WithListener(first), outbox.WithListener(nil), outbox.WithListener(second),
				outbox.WithRetention(time.Hour, time.Minute))

			down := newBus(t)
			_ = down.Close(context.Background())
			_, failure := newRelay(t, d, down, listen...).RelayOnce(ctx)
			if failure == nil {
				t.Fatal("publish to a closed bus succeeded")
			}
			r := newRelay(t, d, newBus(t), listen...)
			for range 2 { // the second round is idle
				if _, err := r.RelayOnce(ctx); err != nil {
					t.Fatal(err)
				}
			}
			d.age(t, "UPDATE billing_outbox SET sent_at = sent_at - $1", 2*time.Hour)
			for range 2 { // the second prune deletes nothing
				if _, err := r.Prune(ctx); err != nil {
					t.Fatal(err)
				}
			}

			want := []outbox.Event{
				{Kind: outbox.EventRelayFailed, Table: "billing_outbox", Err: failure},
				{Kind: outbox.EventRelayed, Table: "billing_outbox", Events: 2},
				{Kind: outbox.EventPruned, Table: "billing_outbox", Events: 2},
			}
			for _, rec := range []*recorder{first, second} {
				got := rec.take()
				if len(got) != len(want) {
					t.Fatalf("events %+v, want %+v", got, want)
				}
				for i, e := range got {
					if e.Duration < 0 || (e.Kind == outbox.EventPruned) != (e.Duration == 0) {
						t.Errorf("%v: duration %v", e.Kind, e.Duration)
					}
					e.Duration = 0
					if !errors.Is(e.Err, want[i].Err) {
						t.Errorf("%v: error %v, want %v", e.Kind, e.Err, want[i].Err)
					}
					e.Err = want[i].Err
					if e != want[i] {
						t.Errorf("event %d = %+v, want %+v", i, e, want[i])
					}
				}
			}
		})
	}
}

func TestEventKindString(t *testing.T) {
	for k, want := range map[outbox.EventKind]string{
		outbox.EventRelayed:        "relayed",
		outbox.EventRelayFailed:    "relay_failed",
		outbox.EventPruned:         "pruned",
		outbox.EventInboxBatch:     "inbox_batch",
		0:                          "unknown",
		outbox.EventInboxBatch + 1: "unknown",
	} {
		if got := k.String(); got != want {
			t.Errorf("EventKind(%d) = %q, want %q", int(k), got, want)
		}
	}
}
