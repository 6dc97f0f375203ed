package tracing

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestSpanNamesBounded(t *testing.T) {
	s := &spanNames{operation: "send"}
	if got := s.get(""); got != "send" {
		t.Errorf("get(\"\") = %q, want the operation alone", got)
	}
	for i := range maxSpanNames + 10 {
		dest := fmt.Sprintf("orders.%d", i)
		for range 2 { // first call builds, second reads the cache (or rebuilds past the bound)
			if got := s.get(dest); got != "send "+dest {
				t.Fatalf("get(%q) = %q", dest, got)
			}
		}
	}
	if n := len(*s.names.Load()); n != maxSpanNames {
		t.Errorf("cache holds %d names, want the bound %d", n, maxSpanNames)
	}
	// Once full, an uncached destination takes no lock: with the lock
	// held elsewhere, get still returns.
	s.mu.Lock()
	defer s.mu.Unlock()
	got := make(chan string, 1)
	go func() { got <- s.get("orders.uncached") }()
	select {
	case name := <-got:
		if name != "send orders.uncached" {
			t.Errorf("get = %q", name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("get of an uncached destination waits on the lock of a full cache")
	}
}

// headerPairs behaves as the http.Header it is copied into: a key set
// twice reads as its last value, and its keys come in the order set.
func TestHeaderPairs(t *testing.T) {
	var h headerPairs
	h.Set("traceparent", "a")
	h.Set("baggage", "b")
	h.Set("traceparent", "c")
	if got := h.Get("traceparent"); got != "c" {
		t.Errorf("Get = %q, want the last value set, c", got)
	}
	if got := h.Get("tracestate"); got != "" {
		t.Errorf("Get of a key never set = %q", got)
	}
	if got, want := h.Keys(), []string{"traceparent", "baggage", "traceparent"}; !slices.Equal(got, want) {
		t.Errorf("Keys = %v, want %v", got, want)
	}
}
