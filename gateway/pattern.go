package gateway

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadPattern is wrapped by ParsePattern for a malformed route pattern.
var ErrBadPattern = errors.New("gateway: bad route pattern")

// segKind orders segment kinds by specificity: a literal beats a
// parameter, which beats the end of the pattern, which beats the tail
// wildcard.
type segKind uint8

const (
	segTail    segKind = iota // "**": zero or more remaining segments
	segEnd                    // never in segs: past the last segment, see kindAt
	segParam                  // "{name}" or "*": exactly one segment
	segLiteral                // exactly this text
)

type segment struct {
	kind segKind
	text string // the literal, or the parameter name ("" for "*")
}

// Pattern is a compiled route path pattern such as "/api/orders/{id}" or
// "/api/users/**". A pattern is a sequence of segments separated by '/':
// a literal matches itself, "{name}" matches any one segment and captures
// it under name, "*" matches any one segment, and "**", only as the last
// segment, matches zero or more segments (the tail, captured under "**").
// Patterns match paths cleaned by CleanPath. When several routes match a
// path, the most specific pattern wins, compared segment by segment: a
// literal beats a parameter, which beats "**", and a pattern that ends with
// the path beats a "**" that matches nothing ("/api/orders" beats
// "/api/orders/**" for the path /api/orders). A Pattern is immutable and
// safe for concurrent use.
type Pattern struct {
	raw      string
	segs     []segment
	captures int // how many parameters Match appends
}

// ParsePattern compiles a route pattern; the error wraps ErrBadPattern.
func ParsePattern(raw string) (Pattern, error) {
	if raw == "" || raw[0] != '/' {
		return Pattern{}, fmt.Errorf("%w: %q must start with '/'", ErrBadPattern, raw)
	}
	clean, err := CleanPath(raw)
	if err != nil || clean != strings.TrimSuffix(raw, "/") && raw != "/" {
		return Pattern{}, fmt.Errorf("%w: %q is not a clean path", ErrBadPattern, raw)
	}
	p := Pattern{raw: raw}
	if clean == "/" {
		return p, nil
	}
	seen := map[string]bool{}
	parts := strings.Split(clean[1:], "/")
	for i, s := range parts {
		switch {
		case s == "**":
			if i != len(parts)-1 {
				return Pattern{}, fmt.Errorf("%w: %q: \"**\" must be the last segment", ErrBadPattern, raw)
			}
			p.segs = append(p.segs, segment{kind: segTail})
		case s == "*":
			p.segs = append(p.segs, segment{kind: segParam})
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			name := s[1 : len(s)-1]
			if !validParamName(name) || seen[name] {
				return Pattern{}, fmt.Errorf("%w: %q: bad or repeated parameter %q", ErrBadPattern, raw, name)
			}
			seen[name] = true
			p.segs = append(p.segs, segment{kind: segParam, text: name})
		case strings.ContainsAny(s, "{}*"):
			return Pattern{}, fmt.Errorf("%w: %q: segment %q mixes text and wildcard", ErrBadPattern, raw, s)
		default:
			p.segs = append(p.segs, segment{kind: segLiteral, text: s})
		}
	}
	for _, s := range p.segs {
		if s.kind == segTail || s.kind == segParam && s.text != "" {
			p.captures++
		}
	}
	return p, nil
}

func validParamName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// String returns the pattern as it was written.
func (p Pattern) String() string { return p.raw }

// Match reports whether the clean path matches the pattern and, if it does,
// appends the captured parameters to params and returns them. The tail of a
// "**" pattern is captured under the name "**" without a leading slash.
func (p Pattern) Match(path string, params Params) (Params, bool) {
	return p.match(path, params, true)
}

// matches is Match without capturing; it never allocates.
func (p Pattern) matches(path string) bool {
	_, ok := p.match(path, nil, false)
	return ok
}

func (p Pattern) match(path string, params Params, capture bool) (Params, bool) {
	rest := path
	if len(rest) > 0 && rest[0] == '/' {
		rest = rest[1:]
	}
	for _, s := range p.segs {
		if s.kind == segTail {
			if capture {
				params = append(params, Param{Name: "**", Value: rest})
			}
			return params, true
		}
		if rest == "" {
			return params, false
		}
		seg := rest
		next := ""
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seg, next = rest[:i], rest[i+1:]
			if next == "" {
				return params, false // trailing slash: paths are cleaned first
			}
		}
		switch s.kind {
		case segLiteral:
			if seg != s.text {
				return params, false
			}
		case segParam:
			if s.text != "" && capture {
				params = append(params, Param{Name: s.text, Value: seg})
			}
		}
		rest = next
	}
	return params, rest == ""
}

// Equivalent reports whether p and q match exactly the same paths: they
// differ at most in parameter names ("{id}", "{orderID}" and "*" are
// alike) and in a trailing slash. The gateway treats routes with
// equivalent patterns as one path served by several routes, picked by
// method in declaration order, and New rejects two of them that share a
// method.
func (p Pattern) Equivalent(q Pattern) bool {
	if len(p.segs) != len(q.segs) {
		return false
	}
	for i, a := range p.segs {
		b := q.segs[i]
		if a.kind != b.kind || a.kind == segLiteral && a.text != b.text {
			return false
		}
	}
	return true
}

// moreSpecific reports whether p should win over q when both match a path.
// Segment by segment, a literal beats a parameter, which beats "**". Where
// one pattern has ended and the other goes on, the ended pattern counts as
// an end-of-path segment that ranks between "**" and a parameter: a pattern
// that matches the whole path exactly beats one whose "**" matches zero
// trailing segments ("/api/orders" over "/api/orders/**", "/" over "/**"),
// and a longer pattern whose next segment must be present beats a shorter
// one (two such patterns never match the same path anyway). The order is
// strict: equal kind sequences are equally specific.
func (p Pattern) moreSpecific(q Pattern) bool {
	for i := 0; i < len(p.segs) || i < len(q.segs); i++ {
		if a, b := p.kindAt(i), q.kindAt(i); a != b {
			return a > b
		}
	}
	return false
}

// kindAt is the kind of the pattern's segment i, or segEnd past its end.
func (p Pattern) kindAt(i int) segKind {
	if i >= len(p.segs) {
		return segEnd
	}
	return p.segs[i].kind
}

// Param is one captured path parameter.
type Param struct {
	// Name is the parameter's name in the pattern, or "**" for the tail.
	Name string
	// Value is the path segment (or tail) it matched, decoded.
	Value string
}

// Params are the parameters a route's pattern captured, in pattern order.
type Params []Param

// Get returns the value of the named parameter, or "" when absent.
func (ps Params) Get(name string) string {
	for _, p := range ps {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}
