package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/dlq"
)

// parkBatch parks n entries of group in store, one a minute from t0 in
// the order of their IDs <group>-00, <group>-01, ..., their originals
// o-<group>-00, ..., and returns their IDs.
func parkBatch(t *testing.T, store *dlq.Store, group string, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		id := fmt.Sprintf("%s-%02d", group, i)
		parkAll(t, store, parked{id, "o-" + id, "order.created", group, t0.Add(time.Duration(i) * time.Minute)})
		out = append(out, id)
	}
	return out
}

// recorder is a publisher that records the IDs it publishes; fail, if
// set, is asked before each publish, numbered from 1.
type recorder struct {
	published []string
	fail      func(n int) error
}

func (r *recorder) Publish(_ context.Context, msgs ...*eventbus.Message) error {
	for _, m := range msgs {
		if r.fail != nil {
			if err := r.fail(len(r.published) + 1); err != nil {
				return err
			}
		}
		r.published = append(r.published, m.ID)
	}
	return nil
}

func (*recorder) Close(context.Context) error { return nil }

// originals returns the original IDs of entry IDs made by parkBatch.
func originals(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = "o-" + id
	}
	return out
}

// listIDs lists every entry f selects.
func listIDs(t *testing.T, store *dlq.Store, f dlq.Filter) []string {
	t.Helper()
	f.Limit = 1000
	got, err := store.List(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return ids(got)
}

var errBroker = errors.New("broker down")

// TestReplayMatching replays a group's entries in batches of 4 (so that
// every case crosses batches) and checks what was published, the count,
// and what is left to replay: exactly the entries not yet replayed, with
// the other group untouched.
func TestReplayMatching(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				// fail is the publisher's answer to its n-th message; cancel
				// is the message after whose publish ctx is cancelled.
				fail    func(n int) error
				cancel  int
				done    int // entries replayed
				wantErr error
			}{
				{name: "all", done: 10},
				{name: "publisher fails on the 6th", fail: func(n int) error {
					if n == 6 {
						return errBroker
					}
					return nil
				}, done: 5, wantErr: errBroker},
				{name: "publisher fails on the 1st", fail: func(int) error { return errBroker }, done: 0, wantErr: errBroker},
				{name: "cancelled after the 3rd", cancel: 3, done: 3, wantErr: context.Canceled},
				{name: "cancelled after the 4th, at a batch's end", cancel: 4, done: 4, wantErr: context.Canceled},
			} {
				t.Run(tc.name, func(t *testing.T) {
					dlq.SetBatchSize(t, 4)
					store := be.open(t)
					billing := parkBatch(t, store, "billing", 10)
					shipping := parkBatch(t, store, "shipping", 3)
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					pub := &recorder{fail: tc.fail}
					if tc.cancel > 0 {
						pub.fail = func(n int) error {
							if n == tc.cancel+1 {
								t.Errorf("published message %d after ctx was cancelled", n)
							}
							if n == tc.cancel {
								cancel() // as the operator does while this message is out
							}
							return nil
						}
					}
					n, err := store.ReplayMatching(ctx, pub, dlq.Filter{Group: "billing"})
					if n != tc.done || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
						t.Fatalf("ReplayMatching = %d, %v; want %d, %v", n, err, tc.done, tc.wantErr)
					}
					if want := originals(billing[:tc.done]); !slices.Equal(pub.published, want) {
						t.Errorf("published %q, want %q", pub.published, want)
					}
					if left := listIDs(t, store, dlq.Filter{Group: "billing"}); !slices.Equal(left, billing[tc.done:]) {
						t.Errorf("left to replay %q, want %q", left, billing[tc.done:])
					}
					if other := listIDs(t, store, dlq.Filter{Group: "shipping"}); !slices.Equal(other, shipping) {
						t.Errorf("other group: %q, want %q untouched", other, shipping)
					}
					for i, id := range billing {
						e, err := store.Get(context.Background(), id)
						if want := min(1, max(0, tc.done-i)); err != nil || e.Replays != want {
							t.Errorf("%s: %d replays (%v), want %d", id, e.Replays, err, want)
						}
					}
				})
			}
		})
	}
}

// TestReplayMatchingStopsAtTheStart: entries parked while ReplayMatching
// runs, as the replays that fail again are, are left for the next call;
// with Replayed set, entries replayed before are replayed again, each
// once.
func TestReplayMatchingStopsAtTheStart(t *testing.T) {
	dlq.SetBatchSize(t, 3)
	onEachBackend(t, func(t *testing.T, store *dlq.Store) {
		ctx := context.Background()
		billing := parkBatch(t, store, "billing", 7)
		// Every replay fails again at once: its consumer parks it anew,
		// after every entry there was.
		pub := &recorder{}
		pub.fail = func(n int) error {
			if n > len(billing) {
				return errors.New("replaying the failures parked during the call")
			}
			parkAll(t, store, parked{fmt.Sprintf("again-%02d", n), "o", "order.created", "billing", t0.Add(time.Hour + time.Duration(n))})
			return nil
		}
		n, err := store.ReplayMatching(ctx, pub, dlq.Filter{Group: "billing"})
		if err != nil || n != len(billing) {
			t.Fatalf("ReplayMatching = %d, %v; want %d", n, err, len(billing))
		}
		var again []string
		for i := range len(billing) {
			again = append(again, fmt.Sprintf("again-%02d", i+1))
		}
		if left := listIDs(t, store, dlq.Filter{Group: "billing"}); !slices.Equal(left, again) {
			t.Fatalf("left to replay %q, want the new failures %q", left, again)
		}

		pub.fail = nil
		n, err = store.ReplayMatching(ctx, pub, dlq.Filter{Group: "billing", Replayed: true})
		if err != nil || n != 2*len(billing) {
			t.Fatalf("ReplayMatching(Replayed) = %d, %v; want %d", n, err, 2*len(billing))
		}
		for _, id := range append(slices.Clone(billing), again...) {
			e, err := store.Get(ctx, id)
			want := 1
			if slices.Contains(billing, id) {
				want = 2
			}
			if err != nil || e.Replays != want {
				t.Errorf("%s: %d replays (%v), want %d", id, e.Replays, err, want)
			}
		}
		if n, err := store.ReplayMatching(ctx, pub, dlq.Filter{Group: "billing"}); n != 0 || err != nil {
			t.Fatalf("ReplayMatching with nothing left = %d, %v", n, err)
		}
	})
}

// TestDeleteMatching deletes by type pattern in batches of 4, leaves
// everything else, and deletes nothing once ctx has ended.
func TestDeleteMatching(t *testing.T) {
	dlq.SetBatchSize(t, 4)
	onEachBackend(t, func(t *testing.T, store *dlq.Store) {
		ctx := context.Background()
		billing := parkBatch(t, store, "billing", 11)
		for i := range 3 {
			parkAll(t, store, parked{fmt.Sprintf("pay-%d", i), "p", "payment.failed", "billing", t0.Add(time.Duration(i) * time.Minute)})
		}
		if err := store.Replay(ctx, discard, billing[2]); err != nil {
			t.Fatal(err)
		}

		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if n, err := store.DeleteMatching(cancelled, dlq.Filter{Type: "order.*"}); n != 0 || !errors.Is(err, context.Canceled) {
			t.Fatalf("DeleteMatching(cancelled) = %d, %v; want 0, context.Canceled", n, err)
		}
		if n, err := store.Count(ctx, dlq.Filter{Replayed: true}); err != nil || n != 14 {
			t.Fatalf("%d entries after a cancelled DeleteMatching (%v), want 14", n, err)
		}

		// Without Replayed the replayed entry stays.
		n, err := store.DeleteMatching(ctx, dlq.Filter{Type: "order.*"})
		if err != nil || n != 10 {
			t.Fatalf("DeleteMatching = %d, %v; want 10", n, err)
		}
		if left := listIDs(t, store, dlq.Filter{Replayed: true}); !slices.Equal(left, []string{"pay-0", "pay-1", billing[2], "pay-2"}) {
			t.Fatalf("left %q", left)
		}
		n, err = store.DeleteMatching(ctx, dlq.Filter{Replayed: true})
		if err != nil || n != 4 {
			t.Fatalf("DeleteMatching(everything) = %d, %v; want 4", n, err)
		}
		if n, err := store.DeleteMatching(ctx, dlq.Filter{}); n != 0 || err != nil {
			t.Fatalf("DeleteMatching on an empty store = %d, %v", n, err)
		}
	})
}
