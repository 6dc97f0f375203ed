package orders

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/go-microkit/microkit/examples/shop/internal/products"
)

func TestMergeLines(t *testing.T) {
	item := func(id string, q int64) products.Item { return products.Item{ProductID: id, Quantity: q} }
	tests := []struct {
		name   string
		in     []products.Item
		want   []products.Item
		status int // of the refusal; 0 for none
	}{
		{"one line", []products.Item{item("p-a", 1)}, []products.Item{item("p-a", 1)}, 0},
		{"same product merged", []products.Item{item("p-a", 1), item("p-a", 2)}, []products.Item{item("p-a", 3)}, 0},
		{"sorted by product", []products.Item{item("p-b", 1), item("p-a", 2), item("p-b", 4)}, []products.Item{item("p-a", 2), item("p-b", 5)}, 0},
		{"zero quantity", []products.Item{item("p-a", 0)}, nil, http.StatusBadRequest},
		{"negative line hidden by a merge", []products.Item{item("p-a", 5), item("p-a", -1)}, nil, http.StatusBadRequest},
		{"line over the limit", []products.Item{item("p-a", 1001)}, nil, http.StatusBadRequest},
		{"merged over the limit", []products.Item{item("p-a", 1000), item("p-a", 1)}, nil, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mergeLines(tt.in)
			var oe *orderError
			switch {
			case tt.status != 0 && (!errors.As(err, &oe) || oe.status != tt.status):
				t.Fatalf("mergeLines(%v) = %v, %v; want a %d refusal", tt.in, got, err, tt.status)
			case tt.status == 0 && (err != nil || !slices.Equal(got, tt.want)):
				t.Fatalf("mergeLines(%v) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// A reused order id answers the stored order only to its customer with
// the same lines; every other case gets the one conflict, so that the
// answer does not say whose the id is.
func TestReplay(t *testing.T) {
	lines := []products.Item{{ProductID: "p-a", Quantity: 1}}
	other := []products.Item{{ProductID: "p-b", Quantity: 1}}
	stored := Order{ID: "o-1", Customer: "alice", Items: lines}
	tests := []struct {
		name     string
		customer string
		items    []products.Item
		want     error
	}{
		{"same customer, same lines", "alice", lines, errReplayed},
		{"same customer, other lines", "alice", other, errIDConflict},
		{"other customer, same lines", "bob", lines, errIDConflict},
		{"other customer, other lines", "bob", other, errIDConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := replay(stored, tt.customer, tt.items)
			if err != tt.want { //nolint:errorlint // the sentinels themselves
				t.Fatalf("replay = %v, want %v", err, tt.want)
			}
			if errors.Is(err, errReplayed) != (o.ID == stored.ID) {
				t.Errorf("replay returned order %+v with %v", o, err)
			}
		})
	}
}
