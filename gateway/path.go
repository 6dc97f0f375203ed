package gateway

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadPath is wrapped by CleanPath for a request path the gateway refuses
// to route: malformed or double percent-encoding, an encoded slash,
// backslash or percent sign, a control character, or a "..;" segment. The
// gateway answers such requests with 400 before any route is matched.
var ErrBadPath = errors.New("gateway: bad request path")

// CleanPath turns the escaped path of a request (url.URL.EscapedPath) into
// the canonical path that routes are matched against and that is forwarded
// upstream. It decodes percent-escapes exactly once, collapses repeated
// slashes and resolves "." and ".." segments without climbing above the
// root, so that "/api/products/../orders/1" and "//api/orders" reach the
// route of "/api/orders/..." and only that route.
//
// It rejects, with an error wrapping ErrBadPath, every input whose meaning
// could differ between the gateway and an upstream: an escape that decodes
// to '/', '\\' or '%' (double encoding such as "%252e%252e"), a raw
// backslash, a control character, an invalid escape, and a segment like
// "..;x" that some servers read as "..". The result always starts with '/'
// and has no trailing slash unless it is "/".
func CleanPath(escaped string) (string, error) {
	if escaped == "" {
		return "/", nil
	}
	if escaped[0] != '/' {
		return "", fmt.Errorf("%w: does not start with '/'", ErrBadPath)
	}
	decoded, err := decodePath(escaped)
	if err != nil {
		return "", err
	}
	return resolveDots(decoded)
}

// decodePath decodes percent-escapes once and rejects the bytes that would
// change the segment structure or allow a second decoding upstream.
func decodePath(s string) (string, error) {
	if !strings.ContainsAny(s, "%\\") && !hasControl(s) {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", fmt.Errorf("%w: invalid percent-encoding", ErrBadPath)
			}
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
			switch c {
			case '/', '\\', '%':
				return "", fmt.Errorf("%w: encoded %q", ErrBadPath, c)
			}
		}
		if c == '\\' {
			return "", fmt.Errorf("%w: backslash", ErrBadPath)
		}
		if c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%w: control character", ErrBadPath)
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// resolveDots is path.Clean for an absolute path, plus the rejection of
// dot segments that carry parameters (";").
func resolveDots(p string) (string, error) {
	if !needsClean(p) {
		return p, nil
	}
	segs := make([]string, 0, strings.Count(p, "/"))
	for seg := range strings.SplitSeq(p[1:], "/") {
		if name, _, ok := strings.Cut(seg, ";"); ok && (name == "." || name == "..") {
			return "", fmt.Errorf("%w: dot segment with parameters", ErrBadPath)
		}
		switch seg {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
		}
	}
	return "/" + strings.Join(segs, "/"), nil
}

// needsClean reports whether p has an empty, "." or ".." segment, a
// trailing slash or a ';'; most request paths have none and are returned
// as they are, without allocating.
func needsClean(p string) bool {
	if len(p) > 1 && p[len(p)-1] == '/' {
		return true
	}
	if strings.IndexByte(p, ';') >= 0 {
		return true
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		rest := p[i+1:]
		if strings.HasPrefix(rest, "/") || rest == "." || strings.HasPrefix(rest, "./") ||
			rest == ".." || strings.HasPrefix(rest, "../") {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
