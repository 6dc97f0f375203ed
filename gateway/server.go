package gateway

import (
	"net/http"
	"time"
)

// MaxHeaderBytes is the size of a request's header section that NewServer
// accepts: the request line and the header fields as they arrive on the
// wire, line ends included. One byte more is answered 431.
const MaxHeaderBytes = 16 << 10

// headerSlack is what net/http reads beyond http.Server.MaxHeaderBytes
// before it answers 431 (its bufio slop, server.go initialReadLimitSize).
const headerSlack = 4096

// NewServer returns an http.Server for h with the timeouts and limits a
// front door needs and net/http leaves unset:
//
//   - 10 s to read the request headers (ReadHeaderTimeout), so that a
//     client sending its headers slowly is disconnected;
//   - 40 s to read the whole request (ReadTimeout): the headers and
//     DefaultBodyReadTimeout for the body. A Gateway's routes replace the
//     body's part with their own deadline (Route.BodyReadTimeout,
//     WithBodyReadTimeout), so an upload route widens it there;
//   - 1 minute of idle keep-alive (IdleTimeout);
//   - MaxHeaderBytes (16 KiB) of request line and headers, exactly: larger
//     ones get 431.
//
// The write timeout stays zero so that streamed responses are not cut;
// per-route Timeout bounds upstream calls.
func NewServer(addr string, h http.Handler) *http.Server {
	const headerTimeout = 10 * time.Second
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       headerTimeout + DefaultBodyReadTimeout,
		IdleTimeout:       time.Minute,
		// net/http reads headerSlack bytes beyond MaxHeaderBytes.
		MaxHeaderBytes: MaxHeaderBytes - headerSlack,
	}
}
