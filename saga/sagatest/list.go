package sagatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/saga"
)

// listFixture is what List's filters look at, for one record each: IDs
// with LIKE's wildcards and escape character, which a prefix must match
// literally, and non-ASCII ones whose prefix range ends inside a multibyte
// character; two pairs created at the same instant.
var listFixture = []struct {
	id               string
	name             string
	status           saga.Status
	created, updated time.Duration // after base
}{
	{"a%b-1", "order", saga.StatusRunning, 0, 10 * time.Second},
	{"a_b-1", "order", saga.StatusCompleted, 1 * time.Second, 1 * time.Second},
	{"axb-1", "refund", saga.StatusRunning, 2 * time.Second, 20 * time.Second},
	{`a\b-1`, "refund", saga.StatusCompensationFailed, 3 * time.Second, 3 * time.Second},
	{"ab", "order", saga.StatusCompensating, 4 * time.Second, 4 * time.Second},
	{"é-1", "order", saga.StatusRunning, 5 * time.Second, 5 * time.Second},
	{"éa", "refund", saga.StatusCompleted, 5 * time.Second, 30 * time.Second},
	{"ê", "order", saga.StatusRunning, 6 * time.Second, 6 * time.Second},
	{"\x7f-del", "transfer", saga.StatusRunning, 7 * time.Second, 7 * time.Second},
	{"\u0080-pad", "transfer", saga.StatusCompleted, 7 * time.Second, 8 * time.Second},
}

// at returns the cursor of the fixture record id.
func at(id string) *saga.Cursor {
	for _, r := range listFixture {
		if r.id == id {
			return &saga.Cursor{CreatedAt: base.Add(r.created), ID: id}
		}
	}
	panic("sagatest: no fixture record " + id)
}

func testListEachFilter(t *testing.T, s saga.Store) {
	ctx := context.Background()
	// Created newest first: a store must not list in insertion order.
	for _, f := range slices.Backward(listFixture) {
		r := record(f.id, f.status, base.Add(f.created))
		r.Name, r.UpdatedAt = f.name, base.Add(f.updated)
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	all := []string{"a%b-1", "a_b-1", "axb-1", `a\b-1`, "ab", "é-1", "éa", "ê", "\x7f-del", "\u0080-pad"}
	running := []saga.Status{saga.StatusRunning}
	tests := []struct {
		name   string
		filter saga.Filter
		want   []string
	}{
		{"zero value: all, oldest first", saga.Filter{}, all},
		{"newest first", saga.Filter{Newest: true}, reversed(all)},
		{"status", saga.Filter{Statuses: running}, []string{"a%b-1", "axb-1", "é-1", "ê", "\x7f-del"}},
		{"name", saga.Filter{Name: "refund"}, []string{"axb-1", `a\b-1`, "éa"}},
		{"unknown name", saga.Filter{Name: "nope"}, nil},
		{"name and statuses", saga.Filter{Name: "order", Statuses: []saga.Status{saga.StatusRunning, saga.StatusCompensating}},
			[]string{"a%b-1", "ab", "é-1", "ê"}},
		{"id prefix", saga.Filter{IDPrefix: "a"}, []string{"a%b-1", "a_b-1", "axb-1", `a\b-1`, "ab"}},
		{"id prefix with %", saga.Filter{IDPrefix: "a%"}, []string{"a%b-1"}},
		{"id prefix with _", saga.Filter{IDPrefix: "a_"}, []string{"a_b-1"}},
		{`id prefix with \`, saga.Filter{IDPrefix: `a\`}, []string{`a\b-1`}},
		{"id prefix that is an id", saga.Filter{IDPrefix: "ab"}, []string{"ab"}},
		{"id prefix é, not ê", saga.Filter{IDPrefix: "é"}, []string{"é-1", "éa"}},
		{"id prefix DEL, not U+0080", saga.Filter{IDPrefix: "\x7f"}, []string{"\x7f-del"}},
		{"id prefix of nothing", saga.Filter{IDPrefix: "zz"}, nil},
		{"updated before, the instant itself excluded", saga.Filter{UpdatedBefore: base.Add(5 * time.Second)},
			[]string{"a_b-1", `a\b-1`, "ab"}},
		{"stuck: running, updated before, newest first",
			saga.Filter{Statuses: running, UpdatedBefore: base.Add(7 * time.Second), Newest: true}, []string{"ê", "é-1"}},
		{"limit", saga.Filter{Limit: 3}, all[:3]},
		{"limit, newest first", saga.Filter{Limit: 3, Newest: true}, []string{"\u0080-pad", "\x7f-del", "ê"}},
		{"after", saga.Filter{After: at("ab")}, all[5:]},
		{"after, in a tie", saga.Filter{After: at("é-1")}, all[6:]},
		{"after, newest first, in a tie", saga.Filter{After: at("éa"), Newest: true}, reversed(all[:6])},
		{"after a place with no record", saga.Filter{After: &saga.Cursor{CreatedAt: base.Add(5 * time.Second), ID: "é0"}}, all[6:]},
		{"after a place with no record, newest first",
			saga.Filter{After: &saga.Cursor{CreatedAt: base.Add(5 * time.Second), ID: "é0"}, Newest: true}, reversed(all[:6])},
		{"after the last", saga.Filter{After: at("\u0080-pad")}, nil},
		{"after the first, newest first", saga.Filter{After: at("a%b-1"), Newest: true}, nil},
		{"all at once", saga.Filter{Name: "order", IDPrefix: "a", Statuses: []saga.Status{saga.StatusRunning, saga.StatusCompleted, saga.StatusCompensating},
			UpdatedBefore: base.Add(time.Minute), After: at("ab"), Newest: true, Limit: 1}, []string{"a_b-1"}},
		{"status, after, newest first", saga.Filter{Statuses: running, After: at("ê"), Newest: true}, []string{"é-1", "axb-1", "a%b-1"}},
	}
	for _, tt := range tests {
		got, err := s.List(ctx, tt.filter)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !slices.Equal(ids(got), tt.want) {
			t.Errorf("%s: List = %q, want %q", tt.name, ids(got), tt.want)
		}
	}
	// IDs are text: no store can hold one that is not UTF-8 or has a NUL.
	for _, f := range []saga.Filter{{IDPrefix: "a\xff"}, {IDPrefix: "a\x00"}, {After: &saga.Cursor{CreatedAt: base, ID: "\xc3"}}} {
		if got, err := s.List(ctx, f); !errors.Is(err, saga.ErrInvalidFilter) {
			t.Errorf("List(%+v) = %q, %v; want ErrInvalidFilter", f, ids(got), err)
		}
	}
}

func testListPages(t *testing.T, s saga.Store) {
	ctx := context.Background()
	const n, size = 57, 10
	type meta struct {
		at     saga.Cursor
		name   string
		status saga.Status
	}
	var recs []meta
	for i := range n {
		// Seven records per instant; IDs that do not follow creation order.
		r := record(fmt.Sprintf("p%02d", i*23%n), []saga.Status{saga.StatusRunning, saga.StatusCompleted, saga.StatusCompensated}[i%3],
			base.Add(time.Duration(i/7)*time.Second))
		r.Name = []string{"order", "refund"}[i%2]
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, meta{r.Cursor(), r.Name, r.Status})
	}
	slices.SortFunc(recs, func(a, b meta) int {
		return cmpCursors(a.at, b.at)
	})
	for _, tt := range []struct {
		name   string
		filter saga.Filter
		keep   func(meta) bool
	}{
		{"all", saga.Filter{}, func(meta) bool { return true }},
		{"name and status", saga.Filter{Name: "order", Statuses: []saga.Status{saga.StatusRunning}},
			func(m meta) bool { return m.name == "order" && m.status == saga.StatusRunning }},
	} {
		var want []string
		for _, m := range recs {
			if tt.keep(m) {
				want = append(want, m.at.ID)
			}
		}
		for _, newest := range []bool{false, true} {
			f := tt.filter
			f.Newest = newest
			w := want
			if newest {
				w = reversed(want)
			}
			got, sizes := listPages(t, s, f, size)
			if !slices.Equal(got, w) {
				t.Errorf("%s, newest %t: pages of %d gave %q, want %q", tt.name, newest, size, got, w)
			}
			for i, k := range sizes[:len(sizes)-1] {
				if k != size {
					t.Errorf("%s, newest %t: page %d of %d has %d records, want %d", tt.name, newest, i, len(sizes), k, size)
				}
			}
		}
	}

	// Records created while an operator pages: the one created after the
	// cursor's place appears where it belongs, the one created before it
	// does not.
	first, err := s.List(ctx, saga.Filter{Limit: size})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*saga.Record{record("late", saga.StatusRunning, base.Add(time.Hour)), record("early", saga.StatusRunning, base.Add(-time.Hour))} {
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	rest, _ := listPages(t, s, saga.Filter{After: new(first[len(first)-1].Cursor())}, size)
	want := make([]string, 0, n+1-size)
	for _, m := range recs[size:] {
		want = append(want, m.at.ID)
	}
	if want = append(want, "late"); !slices.Equal(rest, want) {
		t.Errorf("the pages after the first, with records created meanwhile: %q, want %q", rest, want)
	}
}

// listPages lists every page of f of the given size, each after the last
// record of the one before, and returns the IDs listed and the pages'
// sizes. The cursor goes through its text form between pages, as it does
// between a console's requests.
func listPages(t *testing.T, s saga.Store, f saga.Filter, size int) (listed []string, sizes []int) {
	t.Helper()
	f.Limit = size
	for range 1000 {
		page, err := s.List(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		listed, sizes = append(listed, ids(page)...), append(sizes, len(page))
		if len(page) < size {
			return listed, sizes
		}
		text, err := page[len(page)-1].Cursor().MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		f.After = new(saga.Cursor)
		if err := f.After.UnmarshalText(text); err != nil {
			t.Fatalf("cursor %q: %v", text, err)
		}
	}
	t.Fatalf("paging %+v did not end", f)
	return nil, nil
}

// cmpCursors is the order of a listing, oldest first.
func cmpCursors(a, b saga.Cursor) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func ids(recs []*saga.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}
