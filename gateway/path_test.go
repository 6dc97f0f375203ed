package gateway

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "", want: "/"},
		{in: "/", want: "/"},
		{in: "/api/orders/1", want: "/api/orders/1"},
		{in: "/api/orders/", want: "/api/orders"},
		{in: "//api//orders", want: "/api/orders"},
		{in: "/api/products/../orders/1", want: "/api/orders/1"},
		{in: "/api/./orders/./1", want: "/api/orders/1"},
		{in: "/../../etc/passwd", want: "/etc/passwd"},
		{in: "/api/products/%2e%2e/orders/1", want: "/api/orders/1"},
		{in: "/api/products/%2E%2E/orders", want: "/api/orders"},
		{in: "/api/products/.%2e/orders", want: "/api/orders"},
		{in: "/api/users/J%C3%BCrgen", want: "/api/users/J\u00fcrgen"},
		{in: "/a/b%20c", want: "/a/b c"},
		{in: "/a/..", want: "/"},
		{in: "/a/...", want: "/a/..."},
		{in: "/a/..b", want: "/a/..b"},
		{in: "/a;x=1/b", want: "/a;x=1/b"},
		{in: "api", bad: true},
		{in: "/api/products/%252e%252e/orders", bad: true},
		{in: "/api/products%2F..%2Forders", bad: true},
		{in: "/api/products/..%2forders", bad: true},
		{in: "/api/products/..%5corders", bad: true},
		{in: "/api/products\\..\\orders", bad: true},
		{in: "/api/%", bad: true},
		{in: "/api/%zz", bad: true},
		{in: "/api/%0a", bad: true},
		{in: "/api/\x00", bad: true},
		{in: "/api/public/..;/orders", bad: true},
		{in: "/api/public/.;x/orders", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CleanPath(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrBadPath) {
					t.Fatalf("CleanPath(%q) = %q, %v; want ErrBadPath", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CleanPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestCleanPathNoAllocWhenClean(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := CleanPath("/api/orders/42/items"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("CleanPath of a clean path allocated %v times", allocs)
	}
}

// FuzzCleanPath checks the invariants of every accepted path: absolute, no
// empty or dot segments, nothing left to decode, and stable when cleaned
// again after escaping (what an upstream sees is what was matched).
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/api/orders/1", "//a//b/", "/a/../b", "/%2e%2e/x", "/%252e", "/a%2fb", "/a/..;/b", "/\\a", "/%zz", "/a/./b/.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := CleanPath(in)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("error %v does not wrap ErrBadPath", err)
			}
			return
		}
		if !strings.HasPrefix(out, "/") {
			t.Fatalf("CleanPath(%q) = %q: not absolute", in, out)
		}
		if out != "/" {
			for _, seg := range strings.Split(out[1:], "/") {
				if seg == "" || seg == "." || seg == ".." {
					t.Fatalf("CleanPath(%q) = %q: segment %q", in, out, seg)
				}
			}
		}
		if strings.ContainsAny(out, "%\\") {
			t.Fatalf("CleanPath(%q) = %q: still encoded", in, out)
		}
		again, err := CleanPath((&url.URL{Path: out}).EscapedPath())
		if err != nil || again != out {
			t.Fatalf("CleanPath(escape(%q)) = %q, %v; not stable", out, again, err)
		}
	})
}
