package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/outbox"
)

// ReadBacklog counts what is not yet published and describes the oldest
// event: its age and the relay's failed attempts at it.
func TestReadBacklog(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := t.Context()
			d := be.Open(t)
			read := func() outbox.Backlog { return d.backlog(t) }
			if b := read(); b != (outbox.Backlog{}) {
				t.Fatalf("empty outbox: %+v, want the zero Backlog", b)
			}
			before := time.Now()
			for i, id := range []string{"o-1", "o-2", "o-3"} {
				if err := createOrder(ctx, d.db, id, orderCreated(t, id, i)); err != nil {
					t.Fatal(err)
				}
			}
			b := read()
			if b.Pending != 3 || b.OldestAt.Before(before.Add(-time.Second)) || b.OldestAt.After(time.Now()) || b.OldestAttempts != 0 || b.OldestError != "" {
				t.Fatalf("three events added: %+v", b)
			}
			// A broker that refuses: the relay records the failure on the
			// events it tried.
			failing := &flakyPublisher{failures: 1}
			relay, err := outbox.NewRelay(d.db, d.dialect, failing)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := relay.RelayOnce(ctx); err == nil {
				t.Fatal("RelayOnce with a failing publisher: no error")
			}
			if b := read(); b.Pending != 3 || b.OldestAttempts != 1 || b.OldestError == "" {
				t.Fatalf("after a failed round: %+v, want 3 pending, the oldest tried once with its error", b)
			}
			if n, err := relay.RelayOnce(ctx); err != nil || n != 3 {
				t.Fatalf("RelayOnce: %d, %v", n, err)
			}
			if b := read(); b != (outbox.Backlog{}) {
				t.Fatalf("all published: %+v, want the zero Backlog", b)
			}
			if _, err := outbox.ReadBacklog(ctx, d.db, d.dialect, outbox.WithTable("no_such_outbox")); err == nil {
				t.Fatal("a table that does not exist: no error")
			}
			if _, err := outbox.ReadBacklog(context.Background(), d.db, d.dialect, outbox.WithTable("bad name;")); err == nil {
				t.Fatal("an invalid table name: no error")
			}
		})
	}
}
