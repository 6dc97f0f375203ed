package gateway

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParsePatternErrors(t *testing.T) {
	for _, p := range []string{"", "api", "/a/**/b", "/a/{}", "/a/{1x}", "/a/{id}/{id}", "/a/b{id}", "/a//b", "/a/../b", "/a/*x"} {
		if _, err := ParsePattern(p); !errors.Is(err, ErrBadPattern) {
			t.Errorf("ParsePattern(%q) error = %v, want ErrBadPattern", p, err)
		}
	}
}

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern, path string
		ok            bool
		params        Params
	}{
		{"/", "/", true, nil},
		{"/", "/a", false, nil},
		{"/api/users/**", "/api/users", true, Params{{"**", ""}}},
		{"/api/users/**", "/api/users/7/orders", true, Params{{"**", "7/orders"}}},
		{"/api/users/**", "/api/usersx", false, nil},
		{"/api/orders/{id}", "/api/orders/42", true, Params{{"id", "42"}}},
		{"/api/orders/{id}", "/api/orders", false, nil},
		{"/api/orders/{id}", "/api/orders/42/items", false, nil},
		{"/api/*/items", "/api/x/items", true, nil},
		{"/api/{a}/{b}", "/api/1/2", true, Params{{"a", "1"}, {"b", "2"}}},
		{"/**", "/anything/at/all", true, Params{{"**", "anything/at/all"}}},
		{"/**", "/", true, Params{{"**", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.path, func(t *testing.T) {
			p, err := ParsePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := p.Match(tt.path, nil)
			if ok != tt.ok || ok && !slices.Equal(got, tt.params) {
				t.Fatalf("Match = %v, %v; want %v, %v", got, ok, tt.params, tt.ok)
			}
		})
	}
}

func TestPatternSpecificity(t *testing.T) {
	order := []string{"/api/orders/{id}/items", "/api/orders/{id}", "/api/orders/**", "/api/**", "/**"}
	for i := 0; i+1 < len(order); i++ {
		a, _ := ParsePattern(order[i])
		b, _ := ParsePattern(order[i+1])
		if !a.moreSpecific(b) || b.moreSpecific(a) {
			t.Errorf("%s should be more specific than %s", a, b)
		}
	}
	// Pairs that both match some path: the first must win.
	pairs := [][2]string{
		{"/api/orders", "/api/orders/**"}, // exact beats "**" matching nothing
		{"/", "/**"},
		{"/api/orders/{id}", "/api/orders/**"},
		{"/api/orders/latest", "/api/orders/{id}"},
		{"/api/{v}/orders", "/api/**"},
		{"/api/v1/{x}", "/api/{v}/orders"},
	}
	for _, pr := range pairs {
		a, _ := ParsePattern(pr[0])
		b, _ := ParsePattern(pr[1])
		if !a.moreSpecific(b) || b.moreSpecific(a) {
			t.Errorf("%s should be more specific than %s", a, b)
		}
	}
	for _, pr := range [][2]string{{"/api/{a}", "/api/*"}, {"/api/**", "/api/**"}, {"/", "/"}} {
		a, _ := ParsePattern(pr[0])
		b, _ := ParsePattern(pr[1])
		if a.moreSpecific(b) || b.moreSpecific(a) {
			t.Errorf("%s and %s should be equally specific", a, b)
		}
	}
}

// FuzzPatternMatch matches arbitrary cleaned paths against arbitrary
// patterns: no panic, a match rebuilds the path from the pattern's
// literals and the captured values, and no matching pattern is more
// specific than the path itself written as a literal pattern.
func FuzzPatternMatch(f *testing.F) {
	f.Add("/api/orders/{id}", "/api/orders/1")
	f.Add("/api/users/**", "/api/users/a/b")
	f.Add("/api/orders/**", "/api/orders")
	f.Add("/*/x/{y}", "/a/x/b")
	f.Add("/", "/")
	f.Fuzz(func(t *testing.T, pattern, path string) {
		p, err := ParsePattern(pattern)
		if err != nil {
			return
		}
		clean, err := CleanPath(path)
		if err != nil {
			return
		}
		params, ok := p.Match(clean, nil)
		if !ok {
			return
		}
		var b strings.Builder
		pi := 0
		for _, s := range p.segs {
			switch {
			case s.kind == segLiteral:
				b.WriteString("/" + s.text)
			case s.kind == segTail:
				if v := params[pi].Value; v != "" {
					b.WriteString("/" + v)
				}
				pi++
			case s.text == "":
				// "*" captures nothing; take the segment from the path.
				rest := strings.TrimPrefix(clean, b.String()+"/")
				seg, _, _ := strings.Cut(rest, "/")
				b.WriteString("/" + seg)
			default:
				b.WriteString("/" + params[pi].Value)
				pi++
			}
		}
		rebuilt := b.String()
		if rebuilt == "" {
			rebuilt = "/"
		}
		if rebuilt != clean {
			t.Fatalf("pattern %q matched %q but rebuilds %q (params %v)", pattern, clean, rebuilt, params)
		}
		// The path itself, as a fully literal pattern, is never less
		// specific than another pattern that matches it.
		if exact, err := ParsePattern(clean); err == nil && exact.captures == 0 && !strings.Contains(clean, "*") {
			if p.moreSpecific(exact) {
				t.Fatalf("pattern %q beats the exact pattern %q", pattern, clean)
			}
		}
	})
}

func TestPatternEquivalent(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"/api/carts/{id}", "/api/carts/{cartID}", true},
		{"/api/carts/{id}", "/api/carts/*", true},
		{"/api/carts/{id}/", "/api/carts/{key}", true},
		{"/api/**", "/api/**", true},
		{"/", "/", true},
		{"/api/carts/{id}", "/api/carts/latest", false},
		{"/api/carts/{id}", "/api/carts/**", false},
		{"/api/carts/{id}", "/api/carts/{id}/items", false},
		{"/api/carts", "/api/orders", false},
		{"/", "/**", false},
	}
	for _, tt := range tests {
		a, err1 := ParsePattern(tt.a)
		b, err2 := ParsePattern(tt.b)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if a.Equivalent(b) != tt.want || b.Equivalent(a) != tt.want {
			t.Errorf("%s equivalent to %s: %v, want %v", tt.a, tt.b, a.Equivalent(b), tt.want)
		}
	}
}

// FuzzPatternRank checks what routing relies on: two patterns that match
// the same path with neither more specific than the other are equivalent
// (match exactly the same paths), and equivalent patterns rank the same.
func FuzzPatternRank(f *testing.F) {
	f.Add("/api/carts/{id}", "/api/carts/*", "/api/carts/1")
	f.Add("/api/{v}/orders", "/api/v1/{x}", "/api/v1/orders")
	f.Add("/api/**", "/api/{x}", "/api/a")
	f.Fuzz(func(t *testing.T, pattern1, pattern2, path string) {
		p, err1 := ParsePattern(pattern1)
		q, err2 := ParsePattern(pattern2)
		if err1 != nil || err2 != nil {
			return
		}
		if p.Equivalent(q) && (p.moreSpecific(q) || q.moreSpecific(p)) {
			t.Fatalf("equivalent %q and %q rank differently", pattern1, pattern2)
		}
		clean, err := CleanPath(path)
		if err != nil || !p.matches(clean) || !q.matches(clean) {
			return
		}
		if !p.moreSpecific(q) && !q.moreSpecific(p) && !p.Equivalent(q) {
			t.Fatalf("%q and %q both match %q and rank the same, but are not equivalent", pattern1, pattern2, clean)
		}
	})
}
