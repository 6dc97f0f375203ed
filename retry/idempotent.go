package retry

import "net/http"

// IdempotencyKeyHeader is the request header by which a client makes any
// request, a POST included, safe to repeat: the server applies each key
// once and answers a repeat with the first outcome (the IETF httpapi
// draft "The Idempotency-Key HTTP Header Field").
const IdempotencyKeyHeader = "Idempotency-Key"

// Idempotent reports whether sending r twice has the effect of sending it
// once, so that a failed attempt may be repeated: its method is
// idempotent by RFC 9110 §9.2.2 (GET, HEAD, OPTIONS, TRACE, PUT, DELETE;
// an empty method means GET), or it carries an [IdempotencyKeyHeader].
//
// Only the standard header counts, not the older X-Idempotency-Key: a
// key is a promise the server keeps, so it must be the one name the
// draft defines and servers implement (RFC 6648 retired the X- prefix),
// and a key under another name may mean nothing to the server, which
// would then apply a repeated POST twice.
//
// Idempotent says nothing of the body: a retry must also be able to send
// it again (see [Replayable]).
func Idempotent(r *http.Request) bool {
	switch r.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return r.Header.Get(IdempotencyKeyHeader) != ""
}

// Replayable reports whether r's body can be sent again for a retry: it has
// none, or r.GetBody returns a fresh copy (http.NewRequest sets GetBody for
// a *bytes.Buffer, *bytes.Reader or *strings.Reader body). The body of a
// request a server received has no GetBody: it is a stream read once.
func Replayable(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
}
