// Package memhttp serves HTTP requests in process, without a network, for
// tests that run in a testing/synctest bubble: network I/O does not count
// as blocked in a bubble, so its clock cannot move while a request waits
// on a socket. A client under test gets a [Transport] or [Hosts] as its
// http.RoundTripper, and the server's handler runs in the calling
// goroutine.
package memhttp

import (
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
)

// Transport is an http.RoundTripper that serves every request with
// Handler.
type Transport struct {
	Handler http.Handler
}

// RoundTrip implements http.RoundTripper.
func (t Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	return serve(t.Handler, r), nil
}

// Hosts is an http.RoundTripper that serves each request with the handler
// of its URL's host (host:port as in the URL). A host without a handler
// refuses the connection, as a closed port does.
type Hosts map[string]http.Handler

// RoundTrip implements http.RoundTripper.
func (h Hosts) RoundTrip(r *http.Request) (*http.Response, error) {
	handler, ok := h[r.URL.Host]
	if !ok {
		if r.Body != nil {
			_ = r.Body.Close() // a RoundTripper closes the body, even on errors
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return serve(handler, r), nil
}

func serve(h http.Handler, r *http.Request) *http.Response {
	in := r
	if r.Body == nil {
		// A server's handler always gets a body; a client's request
		// without one sends none.
		in = r.WithContext(r.Context())
		in.Body = http.NoBody
	} else {
		defer r.Body.Close()
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = r // as a RoundTripper's response must
	return resp
}
