package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync/atomic"
)

// RequestIDHeader is the header that carries the request id to upstreams
// and back to the client.
const RequestIDHeader = "X-Request-Id"

// RequestID gives every request an id: the client's X-Request-Id when it is
// a plausible id (1 to 64 characters of letters, digits, '-', '_', '.'),
// else a new one. The id goes into the request context (RequestIDFrom),
// the request header forwarded upstream, the response header, and the JSON
// error bodies.
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

// Request ids are a random per-process prefix plus a counter: unique, and
// far cheaper than reading crypto/rand for every request.
var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

func newRequestID() string {
	var buf [16 + 1 + 16]byte
	copy(buf[:], idPrefix)
	buf[16] = '-'
	n := idCounter.Add(1)
	const digits = "0123456789abcdef"
	for i := len(buf) - 1; i > 16; i-- {
		buf[i] = digits[n&0xf]
		n >>= 4
	}
	return string(buf[:])
}
