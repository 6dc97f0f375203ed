// Package httppool builds the toolkit's default HTTP client transport: one
// whose connection pool fits a service calling a few hosts at high
// concurrency.
package httppool

import "net/http"

// NewTransport returns a clone of http.DefaultTransport that keeps up to
// 256 idle connections per host (instead of 2) and 1024 in all. With the
// default of 2, a client with more than two requests in flight to one host
// closes most connections as the requests finish and dials new ones for the
// next: a TCP handshake, two goroutines and, behind a proxy or with TLS,
// more, for every request.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return t
}
