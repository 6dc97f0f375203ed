package saga_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/saga"
)

func TestCursorText(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("UTC+2", 2*60*60))
	for _, tt := range []struct {
		cursor saga.Cursor
		text   string
	}{
		{saga.Cursor{CreatedAt: at, ID: "order-42"}, "1772359200123456789:order-42"},
		{saga.Cursor{CreatedAt: at.Truncate(time.Second), ID: "a:b/c d"}, "1772359200000000000:a:b/c d"},
		{saga.Cursor{ID: "zero"}, "0:zero"},
	} {
		text, err := tt.cursor.MarshalText()
		if err != nil || string(text) != tt.text {
			t.Errorf("MarshalText(%v) = %q, %v; want %q", tt.cursor, text, err, tt.text)
			continue
		}
		var back saga.Cursor
		if err := back.UnmarshalText(text); err != nil || !back.CreatedAt.Equal(tt.cursor.CreatedAt) || back.ID != tt.cursor.ID {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", text, back, err, tt.cursor)
		}
	}
	for _, bad := range []string{"", "order-42", "yesterday:order-42", "12:", ":order-42", "1.5:order-42"} {
		var c saga.Cursor
		if err := c.UnmarshalText([]byte(bad)); !errors.Is(err, saga.ErrInvalidFilter) {
			t.Errorf("UnmarshalText(%q) = %v, %v; want ErrInvalidFilter", bad, c, err)
		}
	}
}

// TestRecordCursorIsWallClock: a record's cursor carries no monotonic
// clock reading, which text and the SQL stores drop: the page after it is
// the same whether the cursor went through text or not.
func TestRecordCursorIsWallClock(t *testing.T) {
	now := time.Now() // with a monotonic reading
	c := (&saga.Record{ID: "a", CreatedAt: now}).Cursor()
	if c.CreatedAt != now.Round(0) {
		t.Errorf("cursor time %#v, want %#v", c.CreatedAt, now.Round(0))
	}
}

// An operator's listing, a page at a time: each page continues after the
// last record of the one before.
func ExampleFilter() {
	ctx := context.Background()
	store := saga.NewMemoryStore()
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		_ = store.Create(ctx, &saga.Record{ID: fmt.Sprint("order-", i), Name: "create-order",
			Status: saga.StatusRunning, CreatedAt: created.Add(time.Duration(i) * time.Minute)})
	}
	f := saga.Filter{Name: "create-order", Statuses: []saga.Status{saga.StatusRunning}, Newest: true, Limit: 2}
	for {
		page, err := store.List(ctx, f)
		if err != nil {
			fmt.Println(err)
			return
		}
		var ids []string
		for _, r := range page {
			ids = append(ids, r.ID)
		}
		fmt.Println(strings.Join(ids, " "))
		if len(page) < f.Limit {
			break // the last page
		}
		next := page[len(page)-1].Cursor()
		f.After = &next
	}
	// Output:
	// order-4 order-3
	// order-2 order-1
	// order-0
}
