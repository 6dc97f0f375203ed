package tracing

import (
	"fmt"
	"testing"
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
}
