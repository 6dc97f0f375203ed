package orders

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

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

// preferredWait reads "Prefer: wait=<seconds>" (RFC 7240) among other
// preferences, in any case, quoted or not, capped at maxPreferredWait;
// anything else asks for no wait.
func TestPreferredWait(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"wait", []string{"wait=5"}, 5 * time.Second},
		{"among others", []string{"respond-async, wait=3"}, 3 * time.Second},
		{"in a later header", []string{"return=minimal", "wait=2"}, 2 * time.Second},
		{"any case, spaces, quotes", []string{` WAIT = "4" `}, 4 * time.Second},
		{"capped", []string{"wait=100"}, maxPreferredWait},
		{"too large to multiply", []string{"wait=9223372036854775807"}, maxPreferredWait},
		{"zero", []string{"wait=0"}, 0},
		{"negative", []string{"wait=-1"}, 0},
		{"not a number", []string{"wait=soon"}, 0},
		{"no value", []string{"wait"}, 0},
		{"another preference", []string{"handling=lenient"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, "/orders", nil)
			for _, v := range tt.values {
				r.Header.Add("Prefer", v)
			}
			if got := preferredWait(r); got != tt.want {
				t.Errorf("preferredWait(%q) = %v, want %v", tt.values, got, tt.want)
			}
		})
	}
}

// Whatever the header says, the wait is between zero and maxPreferredWait.
func FuzzPreferredWait(f *testing.F) {
	for _, s := range []string{"wait=5", "respond-async, wait=3", `wait="4"`, "wait=9223372036854775807", "wait=-1", ",,=", "wait=1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r, _ := http.NewRequest(http.MethodPost, "/orders", nil)
		r.Header.Set("Prefer", v)
		if got := preferredWait(r); got < 0 || got > maxPreferredWait {
			t.Fatalf("preferredWait(%q) = %v, out of [0, %v]", v, got, maxPreferredWait)
		}
	})
}
