package sqlstore

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPrefixEnd(t *testing.T) {
	for _, tt := range []struct {
		prefix string
		text   bool
		want   string // "" for no bound
	}{
		{"", true, ""},
		{"", false, ""},
		{"order-", true, "order."},
		{"order-", false, "order."},
		{"a%", true, "a&"},
		{"é", true, "ê"},
		{"é", false, "\xc3\xaa"},
		{"a\x7f", true, "a\u0080"},
		{"a\x7f", false, "a\x80"},
		{"a\uD7FF", true, "a\uE000"}, // over the surrogates
		{"a\U0010FFFF", true, "b"},
		{"\U0010FFFF\U0010FFFF", true, ""},
		{"a\xff", false, "b"},
		{"\xff\xff", false, ""},
		{"a\xc3", true, "a\xc4"}, // not UTF-8: byte by byte
	} {
		got, ok := prefixEnd(tt.prefix, tt.text)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("prefixEnd(%q, %t) = %q, %t; want %q", tt.prefix, tt.text, got, ok, tt.want)
			continue
		}
		if tt.text && utf8.ValidString(tt.prefix) && !utf8.ValidString(got) {
			t.Errorf("prefixEnd(%q, true) = %q, not UTF-8", tt.prefix, got)
		}
		// The bound is above every extension of the prefix and is not one.
		if ok && (strings.HasPrefix(got, tt.prefix) || got <= tt.prefix+"\U0010FFFF\xff") {
			t.Errorf("prefixEnd(%q, %t) = %q does not bound the strings that start with it", tt.prefix, tt.text, got)
		}
	}
}
