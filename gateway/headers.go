package gateway

import "net/http"

// StripHeader deletes the header name from h under every spelling that an
// upstream may read as that header: any letter case (a key that escaped
// canonicalization) and '_' in place of '-', since CGI-style servers (PHP,
// WSGI, Rack) map both "X-Auth-Subject" and "X_Auth_Subject" to
// HTTP_X_AUTH_SUBJECT. The gateway strips DefaultSubjectHeader and the
// headers of WithStripHeaders this way; authentication middleware mounted
// outside a Gateway should do the same with the header it sets.
func StripHeader(h http.Header, name string) {
	stripHeaders(h, []string{http.CanonicalHeaderKey(name)})
}

// stripHeaders deletes every spelling of the canonical names from h.
func stripHeaders(h http.Header, names []string) {
	for _, n := range names {
		delete(h, n)
	}
	for k := range h {
		for _, n := range names {
			if sameHeaderName(k, n) {
				delete(h, k)
				break
			}
		}
	}
}

// sameHeaderName reports whether a and b name the same header when case is
// ignored and '_' counts as '-'.
func sameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if x != y {
			return false
		}
	}
	return true
}
