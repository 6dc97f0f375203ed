package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-microkit/microkit/breaker"
)

func TestSetKeepsOneBreakerPerKey(t *testing.T) {
	s, err := breaker.NewSet("hosts", 10, consecutive(1))
	if err != nil {
		t.Fatal(err)
	}
	a := s.Get("a:80")
	if a != s.Get("a:80") || a == s.Get("b:80") {
		t.Fatal("Get does not return one breaker per key")
	}
	if a.Name() != "hosts/a:80" {
		t.Fatalf("name = %q", a.Name())
	}
	_ = a.Execute(context.Background(), func(context.Context) error { return errBoom })
	if s.Get("a:80").State() != breaker.Open || s.Get("b:80").State() != breaker.Closed {
		t.Fatal("one key's failures reached another's breaker")
	}
}

func TestSetEvictsLeastRecentlyUsed(t *testing.T) {
	s, err := breaker.NewSet("hosts", 3)
	if err != nil {
		t.Fatal(err)
	}
	a := s.Get("a")
	s.Get("b")
	s.Get("c")
	// All three are used: the hand clears each one's bit in a full sweep
	// and then takes the first, a.
	s.Get("d")
	if got := s.Keys(); slices.Contains(got, "a") || len(got) != 3 {
		t.Fatalf("keys = %v, want a evicted", got)
	}
	s.Get("c") // used again
	s.Get("e") // b is unused, c was used: b goes
	keys := s.Keys()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"c", "d", "e"}) {
		t.Fatalf("keys = %v, want [c d e]", keys)
	}
	if s.Get("a") == a {
		t.Fatal("an evicted key kept its breaker")
	}
	if s.Len() != 3 {
		t.Fatalf("len = %d", s.Len())
	}
}

// Breakers lists the breakers the set holds, the very ones Get returns,
// and nothing else.
func TestSetBreakers(t *testing.T) {
	s, err := breaker.NewSet("hosts", 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Breakers(); len(got) != 0 {
		t.Fatalf("empty set: %d breakers", len(got))
	}
	s.Get("a")
	b, c := s.Get("b"), s.Get("c") // a is evicted
	listed := s.Breakers()
	slices.SortFunc(listed, func(x, y *breaker.Breaker) int { return strings.Compare(x.Name(), y.Name()) })
	if len(listed) != 2 || listed[0] != b || listed[1] != c {
		t.Fatalf("Breakers() = %v, want the breakers of b and c", listed)
	}
}

func TestSetBoundedUnderConcurrency(t *testing.T) {
	const max = 16
	s, err := breaker.NewSet("hosts", max)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				key := fmt.Sprint((w*7 + i) % 40)
				if b := s.Get(key); b.Name() != "hosts/"+key {
					t.Errorf("Get(%q) = %q", key, b.Name())
				}
			}
		})
	}
	wg.Wait()
	if n := s.Len(); n != max {
		t.Fatalf("len = %d, want %d", n, max)
	}
}

func TestNewSetInvalid(t *testing.T) {
	if _, err := breaker.NewSet("x", 0); !errors.Is(err, breaker.ErrInvalidOption) {
		t.Fatalf("max 0: err = %v", err)
	}
	if _, err := breaker.NewSet("x", 1, consecutive(-1)); !errors.Is(err, breaker.ErrInvalidOption) {
		t.Fatalf("bad option: err = %v", err)
	}
}
