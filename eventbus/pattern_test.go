package eventbus_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, typ string
		want         bool
	}{
		{"order.created", "order.created", true},
		{"order.created", "order.paid", false},
		{"order.created", "order.created.v2", false},
		{"order.created.v2", "order.created", false},
		{"order.*", "order.created", true},
		{"order.*", "order.line.added", false},
		{"order.*", "order", false},
		{"*.created", "shipment.created", true},
		{"*", "order", true},
		{"*", "order.created", false},
		{"order.>", "order.created", true},
		{"order.>", "order.line.added", true},
		{"order.>", "order", false},
		{">", "anything.at.all", true},
		{"order.*.added", "order.line.added", true},
		{"order.*.added", "order.line.removed", false},
		{"orders.>", "order.created", false},
	}
	for _, tt := range tests {
		if got := eventbus.Match(tt.pattern, tt.typ); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.typ, got, tt.want)
		}
	}
}

func TestValidatePattern(t *testing.T) {
	valid := []string{"order.created", "order.*", "order.>", ">", "*", "*.created", "a-b_c.D9"}
	invalid := []string{"", ".", "order.", ".order", "order..created", "order.>.x", "or*der", "order.cre>ated", "a b", "a\tb", "a\x00", strings.Repeat("a", 256)}
	for _, p := range valid {
		if err := eventbus.ValidatePattern(p); err != nil {
			t.Errorf("ValidatePattern(%q) = %v", p, err)
		}
	}
	for _, p := range invalid {
		if err := eventbus.ValidatePattern(p); !errors.Is(err, eventbus.ErrInvalidPattern) {
			t.Errorf("ValidatePattern(%q) = %v, want ErrInvalidPattern", p, err)
		}
	}
	for _, typ := range []string{"order.*", ">", "order.>"} {
		if err := eventbus.ValidateType(typ); err == nil {
			t.Errorf("ValidateType(%q) accepted a wildcard", typ)
		}
	}
}

func TestValidateGroup(t *testing.T) {
	for _, g := range []string{"billing", "order-service_2"} {
		if err := eventbus.ValidateGroup(g); err != nil {
			t.Errorf("ValidateGroup(%q) = %v", g, err)
		}
	}
	for _, g := range []string{"", "a.b", "a b", "a*", strings.Repeat("g", 65)} {
		if err := eventbus.ValidateGroup(g); !errors.Is(err, eventbus.ErrInvalidOption) {
			t.Errorf("ValidateGroup(%q) = %v, want ErrInvalidOption", g, err)
		}
	}
}

// matchReference is the obvious, allocating implementation of Match.
func matchReference(pattern, typ string) bool {
	p, ty := strings.Split(pattern, "."), strings.Split(typ, ".")
	for i, tok := range p {
		if tok == ">" {
			return len(ty) > i
		}
		if i >= len(ty) || (tok != "*" && tok != ty[i]) {
			return false
		}
	}
	return len(p) == len(ty)
}

func FuzzMatch(f *testing.F) {
	f.Add("order.*", "order.created")
	f.Add("order.>", "order.line.added")
	f.Add("*.created", "order.created")
	f.Add(">", "a")
	f.Add("a.b", "a.b.c")
	f.Fuzz(func(t *testing.T, pattern, typ string) {
		if eventbus.ValidatePattern(pattern) != nil || eventbus.ValidateType(typ) != nil {
			return
		}
		if got, want := eventbus.Match(pattern, typ), matchReference(pattern, typ); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", pattern, typ, got, want)
		}
		if !eventbus.Match(typ, typ) {
			t.Fatalf("a type does not match itself: %q", typ)
		}
	})
}
