package gateway

import (
	"context"
	"math/rand/v2"
	"net/http"
)

// RequestIDHeader is the header that carries the request id to upstreams
// and back to the client.
const RequestIDHeader = "X-Request-Id"

// RequestID gives every request an id: the client's X-Request-Id when it is
// a plausible id (1 to 64 characters of letters, digits, '-', '_', '.'),
// else a new random one of 16 hex digits. The id goes into the request
// context (RequestIDFromContext), the request header forwarded upstream, the
// response header (once: an upstream's echo of it is not repeated), and
// the JSON error bodies.
//
// A client's id is kept so that it can find its own request in support
// logs, and so that a service behind a gateway adopts the gateway's id.
// It is a label, not a key: any client can send any id, so logs and
// traces must not treat it as unique or as proof of anything. The charset
// and length keep it from forging log lines or headers.
func RequestID() Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(RequestIDHeader)
			if !validRequestID(id) {
				id = newRequestID()
				r.Header.Set(RequestIDHeader, id)
			}
			w.Header().Set(RequestIDHeader, id)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
		})
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// newRequestID returns 16 lowercase hex digits of a fresh 64-bit random
// number. Ids must not be a counter: a client that could read one off its
// own responses would learn how many requests the service took between two
// of its own. math/rand/v2's top-level functions draw from the runtime's
// ChaCha8 generator, seeded per process from the operating system and
// unpredictable from its output, and cost no system call, unlike
// crypto/rand; the id only has to be unguessable and unique, not a key.
func newRequestID() string {
	var buf [16]byte
	n := rand.Uint64()
	const digits = "0123456789abcdef"
	for i := len(buf) - 1; i >= 0; i-- {
		buf[i] = digits[n&0xf]
		n >>= 4
	}
	return string(buf[:])
}
