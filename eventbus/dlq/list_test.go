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

// t0 is the instant the test entries are parked around.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// parked is a dead letter as eventbus.DeadLetter publishes it.
type parked struct {
	id, original, typ, group string
	at                       time.Time
}

func (p parked) message() *eventbus.Message {
	return &eventbus.Message{ID: p.id, Type: eventbus.DeadLetterPrefix + p.typ, Data: []byte(`{}`), Metadata: map[string]string{
		eventbus.MetaDeadLetterOriginalType: p.typ, eventbus.MetaDeadLetterOriginalID: p.original,
		eventbus.MetaDeadLetterReason: "rejected", eventbus.MetaDeadLetterAttempts: "1",
		eventbus.MetaDeadLetterGroup: p.group, eventbus.MetaDeadLetterHandler: p.typ,
		eventbus.MetaDeadLetterTime: p.at.Format(time.RFC3339Nano),
	}}
}

// parkAll parks each of ps in store.
func parkAll(t *testing.T, store *dlq.Store, ps ...parked) {
	t.Helper()
	for _, p := range ps {
		if err := store.Park(context.Background(), p.message()); err != nil {
			t.Fatal(err)
		}
	}
}

// ids returns the IDs of entries, in order.
func ids(entries []dlq.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.ID
	}
	return out
}

// discard is a publisher that accepts every message.
var discard = publisherFunc(func(context.Context, ...*eventbus.Message) error { return nil })

// TestFilters lists and counts a store of eight entries (one replayed)
// through each kind of filter and their combinations.
func TestFilters(t *testing.T) { onEachBackend(t, testFilters) }

func testFilters(t *testing.T, store *dlq.Store) {
	ctx := context.Background()
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	parkAll(t, store,
		parked{"o1.dl.1", "o1", "order.created", "billing", at(1)},
		parked{"o2.dl.1", "o2", "order.paid", "billing", at(2)},
		parked{"o3.dl.1", "o3", "payment.failed", "shipping", at(3)},
		parked{"o1.dl.2", "o1", "order.created", "shipping", at(4)},
		parked{"O1_x.dl", "o%1", "order.created.v2", "billing", at(5)},
		parked{"o10.dl", "o10", "shipment.created", "stock", at(6)},
		parked{"o2.dl.2", "o2", "order.paid", "billing", at(7)},
		parked{"ü1.dl", "ü1", "user.created", "billing", at(8)},
	)
	if err := store.Replay(ctx, discard, "o2.dl.2"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		f     dlq.Filter
		want  []string
		count int64 // Count's answer when Limit cuts the list; else len(want)
	}{
		{"zero: never replayed, oldest first", dlq.Filter{}, []string{"o1.dl.1", "o2.dl.1", "o3.dl.1", "o1.dl.2", "O1_x.dl", "o10.dl", "ü1.dl"}, 0},
		{"replayed too", dlq.Filter{Replayed: true}, []string{"o1.dl.1", "o2.dl.1", "o3.dl.1", "o1.dl.2", "O1_x.dl", "o10.dl", "o2.dl.2", "ü1.dl"}, 0},
		{"newest first", dlq.Filter{Newest: true}, []string{"ü1.dl", "o10.dl", "O1_x.dl", "o1.dl.2", "o3.dl.1", "o2.dl.1", "o1.dl.1"}, 0},
		{"limit", dlq.Filter{Limit: 2}, []string{"o1.dl.1", "o2.dl.1"}, 7},
		{"newest limit", dlq.Filter{Newest: true, Limit: 2}, []string{"ü1.dl", "o10.dl"}, 7},
		{"group", dlq.Filter{Group: "billing"}, []string{"o1.dl.1", "o2.dl.1", "O1_x.dl", "ü1.dl"}, 0},
		{"group, replayed too", dlq.Filter{Group: "billing", Replayed: true}, []string{"o1.dl.1", "o2.dl.1", "O1_x.dl", "o2.dl.2", "ü1.dl"}, 0},
		{"unknown group", dlq.Filter{Group: "nobody"}, nil, 0},
		{"type", dlq.Filter{Type: "order.created"}, []string{"o1.dl.1", "o1.dl.2"}, 0},
		{"type, replayed too", dlq.Filter{Type: "order.paid", Replayed: true}, []string{"o2.dl.1", "o2.dl.2"}, 0},
		{"type prefix", dlq.Filter{Type: "order.>"}, []string{"o1.dl.1", "o2.dl.1", "o1.dl.2", "O1_x.dl"}, 0},
		{"type one token", dlq.Filter{Type: "order.*"}, []string{"o1.dl.1", "o2.dl.1", "o1.dl.2"}, 0},
		{"type any domain", dlq.Filter{Type: "*.created"}, []string{"o1.dl.1", "o1.dl.2", "o10.dl", "ü1.dl"}, 0},
		{"type any domain, newest first", dlq.Filter{Type: "*.created", Newest: true}, []string{"ü1.dl", "o10.dl", "o1.dl.2", "o1.dl.1"}, 0},
		{"type any domain, then more", dlq.Filter{Type: "*.created.>"}, []string{"O1_x.dl"}, 0},
		{"type any domain, replayed too", dlq.Filter{Type: "*.paid", Replayed: true}, []string{"o2.dl.1", "o2.dl.2"}, 0},
		{"type anything", dlq.Filter{Type: ">"}, []string{"o1.dl.1", "o2.dl.1", "o3.dl.1", "o1.dl.2", "O1_x.dl", "o10.dl", "ü1.dl"}, 0},
		{"type no match", dlq.Filter{Type: "*.deleted"}, nil, 0},
		{"type and group", dlq.Filter{Type: "*.created", Group: "billing"}, []string{"o1.dl.1", "ü1.dl"}, 0},
		{"original", dlq.Filter{OriginalID: "o1"}, []string{"o1.dl.1", "o1.dl.2"}, 0},
		{"original's history", dlq.Filter{OriginalID: "o2", Replayed: true}, []string{"o2.dl.1", "o2.dl.2"}, 0},
		{"search", dlq.Filter{Search: "o1"}, []string{"o1.dl.1", "o1.dl.2", "o10.dl"}, 0},
		{"search up to the dot", dlq.Filter{Search: "o1."}, []string{"o1.dl.1", "o1.dl.2"}, 0},
		{"search whole ID", dlq.Filter{Search: "o1.dl.2"}, []string{"o1.dl.2"}, 0},
		{"search original ID, % literal", dlq.Filter{Search: "o%"}, []string{"O1_x.dl"}, 0},
		{"search _ literal", dlq.Filter{Search: "O1_"}, []string{"O1_x.dl"}, 0},
		{"search case matters, _ is no wildcard", dlq.Filter{Search: "o1_"}, nil, 0},
		{"search non-ASCII", dlq.Filter{Search: "ü"}, []string{"ü1.dl"}, 0},
		{"search and group", dlq.Filter{Search: "o1", Group: "shipping"}, []string{"o1.dl.2"}, 0},
		{"search, replayed too", dlq.Filter{Search: "o2", Replayed: true, Newest: true}, []string{"o2.dl.2", "o2.dl.1"}, 0},
		{"search no match", dlq.Filter{Search: "zzz"}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.List(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tc.want) {
				t.Errorf("List = %q, want %q", ids(got), tc.want)
			}
			want := tc.count
			if want == 0 {
				want = int64(len(tc.want))
			}
			if n, err := store.Count(ctx, tc.f); err != nil || n != want {
				t.Errorf("Count = %d, %v; want %d", n, err, want)
			}
			// CountUpTo agrees below its bound and stops at it.
			for _, max := range []int{1, 2, 100} {
				if n, err := store.CountUpTo(ctx, tc.f, max); err != nil || n != min(want, int64(max)) {
					t.Errorf("CountUpTo(%d) = %d, %v; want %d", max, n, err, min(want, int64(max)))
				}
			}
		})
	}
}

// TestInvalidFilters: a Filter that cannot run is refused with
// ErrInvalidFilter by every operation that takes one, and changes
// nothing.
func TestInvalidFilters(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	parkAll(t, store, parked{"o1.dl", "o1", "order.created", "billing", t0})
	for _, tc := range []struct {
		name    string
		f       dlq.Filter
		pattern bool // the error wraps eventbus.ErrInvalidPattern too
	}{
		{"empty token", dlq.Filter{Type: "order..created"}, true},
		{"> not last", dlq.Filter{Type: ">.created"}, true},
		{"search not UTF-8", dlq.Filter{Search: "o\xff"}, false},
		{"search with NUL", dlq.Filter{Search: "o\x00"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, dlq.ErrInvalidFilter) || errors.Is(err, eventbus.ErrInvalidPattern) != tc.pattern {
					t.Errorf("%s = %v, want ErrInvalidFilter (and ErrInvalidPattern: %v)", op, err, tc.pattern)
				}
			}
			_, err := store.List(ctx, tc.f)
			check("List", err)
			_, err = store.Count(ctx, tc.f)
			check("Count", err)
			_, err = store.ReplayMatching(ctx, discard, tc.f)
			check("ReplayMatching", err)
			_, err = store.DeleteMatching(ctx, tc.f)
			check("DeleteMatching", err)
		})
	}
	if left, err := store.List(ctx, dlq.Filter{}); err != nil || len(left) != 1 || left[0].Replays != 0 {
		t.Fatalf("after refused filters: %+v, %v; want the entry untouched", left, err)
	}
}

// TestPaging pages through 57 entries parked at one instant, in both
// directions and several page sizes, the cursor going through its text
// form as in a link, while each page's last entry (the cursor's own) is
// deleted before the next page is asked for: every entry is listed once,
// in order.
func TestPaging(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			for _, tc := range []struct {
				newest bool
				limit  int
			}{
				{false, 10}, {true, 10}, {false, 19}, {true, 19}, {true, 57}, {false, 1},
			} {
				t.Run(fmt.Sprintf("newest=%v/limit=%d", tc.newest, tc.limit), func(t *testing.T) {
					testPaging(t, be.open(t), tc.newest, tc.limit)
				})
			}
		})
	}
}

func testPaging(t *testing.T, store *dlq.Store, newest bool, limit int) {
	ctx := context.Background()
	var want []string
	for i := range 57 {
		// Parked out of order, and with the group filtered on ahead of
		// and behind others at the same instant.
		p := parked{fmt.Sprintf("e%02d", (i*13)%57), "o", "order.created", "billing", t0}
		parkAll(t, store, p)
		want = append(want, p.id)
	}
	parkAll(t, store,
		parked{"a-other", "o", "order.created", "shipping", t0},
		parked{"z-other", "o", "order.created", "shipping", t0},
		parked{"before", "o", "order.created", "billing", t0.Add(-time.Nanosecond)},
		parked{"after", "o", "order.created", "billing", t0.Add(time.Nanosecond)},
	)
	slices.Sort(want)
	want = append(append([]string{"before"}, want...), "after")
	if newest {
		slices.Reverse(want)
	}
	f := dlq.Filter{Group: "billing", Newest: newest, Limit: limit}
	var got []string
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatalf("still paging after %d pages: %q", pages, got)
		}
		page, err := store.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(page)...)
		if len(page) < limit {
			break
		}
		last := page[len(page)-1]
		if _, err := store.Delete(ctx, last.ID); err != nil {
			t.Fatal(err)
		}
		text, err := last.Cursor().MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var c dlq.Cursor
		if err := c.UnmarshalText(text); err != nil {
			t.Fatal(err)
		}
		f.After = &c
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages listed %q, want %q", got, want)
	}
}

func TestCursorText(t *testing.T) {
	c := dlq.Cursor{ParkedAt: time.Date(2026, 3, 1, 10, 0, 0, 123, time.UTC), ID: "evt:7.deadletter.1"}
	text, err := c.MarshalText()
	if err != nil || string(text) != "1772359200000000123:evt:7.deadletter.1" {
		t.Fatalf("MarshalText = %q, %v", text, err)
	}
	var back dlq.Cursor
	if err := back.UnmarshalText(text); err != nil || !back.ParkedAt.Equal(c.ParkedAt) || back.ID != c.ID {
		t.Fatalf("UnmarshalText(%q) = %+v, %v; want %+v", text, back, err, c)
	}
	for _, bad := range []string{"", "1772359200000000123", "1772359200000000123:", ":id", "x:id", "1.5:id"} {
		if err := back.UnmarshalText([]byte(bad)); !errors.Is(err, dlq.ErrInvalidFilter) {
			t.Errorf("UnmarshalText(%q) = %v, want ErrInvalidFilter", bad, err)
		}
	}
}

// TestGroups counts what each group has waiting: a group whose entries
// were all replayed has nothing waiting and is left out.
func TestGroups(t *testing.T) {
	onEachBackend(t, func(t *testing.T, store *dlq.Store) {
		ctx := context.Background()
		if g, err := store.Groups(ctx); err != nil || len(g) != 0 {
			t.Fatalf("Groups of an empty store = %+v, %v", g, err)
		}
		parkAll(t, store,
			parked{"b1", "o1", "order.created", "billing", t0.Add(3 * time.Minute)},
			parked{"b2", "o2", "order.created", "billing", t0.Add(time.Minute)},
			parked{"b3", "o3", "order.created", "billing", t0.Add(9 * time.Minute)},
			parked{"b4", "o4", "order.created", "billing", t0},
			parked{"s1", "o1", "order.created", "shipping", t0.Add(5 * time.Minute)},
			parked{"a1", "o1", "order.created", "audit", t0.Add(2 * time.Minute)},
		)
		if err := store.Replay(ctx, discard, "b4", "a1"); err != nil {
			t.Fatal(err)
		}
		got, err := store.Groups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []dlq.GroupCount{
			{Group: "billing", Count: 3, Oldest: t0.Add(time.Minute), Newest: t0.Add(9 * time.Minute)},
			{Group: "shipping", Count: 1, Oldest: t0.Add(5 * time.Minute), Newest: t0.Add(5 * time.Minute)},
		}
		if !slices.EqualFunc(got, want, func(a, b dlq.GroupCount) bool {
			return a.Group == b.Group && a.Count == b.Count && a.Oldest.Equal(b.Oldest) && a.Newest.Equal(b.Newest)
		}) {
			t.Fatalf("Groups = %+v, want %+v", got, want)
		}
	})
}
